package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/buildinfo"
	"github.com/edgerelay/edgerelay/daemon/state"
	"github.com/edgerelay/edgerelay/store"
)

// queueOpts are the flags every queue subcommand shares.
type queueOpts struct {
	config string
	path   string
}

func (q *queueOpts) flags(c *cobra.Command) {
	configFlag(c, &q.config)
	c.Flags().StringVar(&q.path, "store", "", "store file (default: store.path of the configuration)")
}

// open opens the store the daemon would use. It fails with a clear message while the
// daemon holds the file.
func (q *queueOpts) open() (*store.DB, error) {
	path := q.path
	if path == "" {
		cfg, err := loadConfig(q.config)
		if err != nil {
			return nil, err
		}
		path = cfg.Store.Path
	}
	db, err := store.Open(path, store.Options{Timeout: 500 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w (stop the daemon first: systemctl stop edgerelay)", err)
	}
	if err != nil {
		return nil, err
	}
	if moved, reason := db.Quarantined(); moved != "" {
		fmt.Printf("warning: the store was corrupt and has been moved to %s (%s)\n", moved, reason)
	}
	return db, nil
}

func queueCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "queue",
		Short: "Inspect and repair the durable queue (with the daemon stopped)",
	}
	c.AddCommand(queueStats(stdout), queueList(stdout), queueRetry(stdout), queueDrop(stdout), queueCheck(stdout))
	return c
}

func queueStats(stdout io.Writer) *cobra.Command {
	var q queueOpts
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats",
		Short: "Pending and dead-lettered events per sink, and the sources' saved state",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			db, err := q.open()
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := db.Stats()
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			fmt.Fprintf(stdout, "store %s: %d bytes, schema %d\n", db.Path(), st.FileBytes, st.Schema)
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SINK\tPENDING\tOLDEST\tDEAD\tOLDEST DEAD")
			names := make([]string, 0, len(st.Sinks))
			for n := range st.Sinks {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				s := st.Sinks[n]
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", n, s.Pending, age(s.Oldest), s.Dead, age(s.OldestDead))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return printState(stdout, st.Cursors)
		},
	}
	q.flags(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// printState lists the sources' saved state (names and sizes, not values), one line
// per name; a stored name outside the sources' namespace is shown whole.
func printState(w io.Writer, cursors map[string]int) error {
	if len(cursors) == 0 {
		return nil
	}
	keys := make([]string, 0, len(cursors))
	for k := range cursors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tSTATE\tBYTES")
	for _, k := range keys {
		src, name, ok := state.SplitKey(k)
		if !ok {
			src, name = "-", k
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", src, name, cursors[k])
	}
	return tw.Flush()
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}

func queueList(stdout io.Writer) *cobra.Command {
	var q queueOpts
	var sink string
	var dead bool
	var limit int
	c := &cobra.Command{
		Use:   "list",
		Short: "List queued (or, with --dead, dead-lettered) events",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			db, err := q.open()
			if err != nil {
				return err
			}
			defer db.Close()
			sinks := []string{sink}
			if sink == "" {
				if sinks, err = db.Sinks(); err != nil {
					return err
				}
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			if dead {
				fmt.Fprintln(tw, "SINK\tSEQ\tEVENT\tTOPIC\tKEY\tDEAD SINCE\tREASON")
			} else {
				fmt.Fprintln(tw, "SINK\tSEQ\tEVENT\tTOPIC\tKEY\tATTEMPTS\tNEXT\tLAST ERROR")
			}
			for _, s := range sinks {
				if dead {
					err = db.ScanDead(s, 0, limit, func(d store.Dead) error {
						ev := describe(d.Data)
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s, d.Seq, ev.ID, ev.Topic, d.Key, age(d.At), oneLine(d.Reason))
						return nil
					})
				} else {
					err = db.Scan(s, 0, limit, func(e store.Entry) error {
						ev := describe(e.Data)
						next := "now"
						if time.Until(e.NextAttempt) > 0 {
							next = "in " + time.Until(e.NextAttempt).Round(time.Second).String()
						}
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", s, e.Seq, ev.ID, ev.Topic, e.Key, e.Attempts, next, oneLine(e.LastError))
						return nil
					})
				}
				if err != nil {
					return err
				}
			}
			return tw.Flush()
		},
	}
	q.flags(c)
	c.Flags().StringVar(&sink, "sink", "", "only this sink (@rejected holds refused events)")
	c.Flags().BoolVar(&dead, "dead", false, "list dead letters instead of pending events")
	c.Flags().IntVar(&limit, "limit", 100, "at most this many per sink (0 = all)")
	return c
}

func describe(data []byte) adapters.Event {
	var ev adapters.Event
	if err := ev.UnmarshalBinary(data); err != nil {
		ev.ID = "(undecodable)"
	}
	return ev
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// selection checks the arguments of retry and drop: a sink, and either sequence
// numbers or --all (nil seqs).
func selection(sink string, all bool, args []string) ([]uint64, error) {
	if sink == "" {
		return nil, &codeError{exitUsage, errors.New("--sink is required")}
	}
	if all == (len(args) > 0) {
		return nil, &codeError{exitUsage, errors.New("give sequence numbers or --all, not both or neither")}
	}
	var seqs []uint64
	for _, a := range args {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return nil, &codeError{exitUsage, fmt.Errorf("%q is not a sequence number (see queue list)", a)}
		}
		seqs = append(seqs, n)
	}
	return seqs, nil
}

func queueRetry(stdout io.Writer) *cobra.Command {
	var q queueOpts
	var sink string
	var all bool
	c := &cobra.Command{
		Use:   "retry --sink NAME (SEQ... | --all)",
		Short: "Move dead-lettered events back to the end of their sink's queue",
		RunE: func(_ *cobra.Command, args []string) error {
			seqs, err := selection(sink, all, args)
			if err != nil {
				return err
			}
			db, err := q.open()
			if err != nil {
				return err
			}
			defer db.Close()
			if seqs, err = retrySelection(db, sink, seqs, stdout); err != nil {
				return err
			}
			n, err := db.Retry(sink, seqs)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%d dead letter(s) of %s queued for delivery again\n", n, sink)
			return nil
		},
	}
	q.flags(c)
	c.Flags().StringVar(&sink, "sink", "", "the sink whose dead letters to retry")
	c.Flags().BoolVar(&all, "all", false, "every dead letter of the sink")
	return c
}

func queueDrop(stdout io.Writer) *cobra.Command {
	var q queueOpts
	var sink string
	var dead, all bool
	c := &cobra.Command{
		Use:   "drop --sink NAME [--dead] (SEQ... | --all)",
		Short: "Delete queued (or, with --dead, dead-lettered) events for good",
		RunE: func(_ *cobra.Command, args []string) error {
			seqs, err := selection(sink, all, args)
			if err != nil {
				return err
			}
			db, err := q.open()
			if err != nil {
				return err
			}
			defer db.Close()
			n, err := db.Drop(sink, dead, seqs)
			if err != nil {
				return err
			}
			what := "queued event(s)"
			if dead {
				what = "dead letter(s)"
			}
			fmt.Fprintf(stdout, "%d %s of %s dropped\n", n, what, sink)
			return nil
		},
	}
	q.flags(c)
	c.Flags().StringVar(&sink, "sink", "", "the sink")
	c.Flags().BoolVar(&dead, "dead", false, "drop dead letters instead of pending events")
	c.Flags().BoolVar(&all, "all", false, "everything of the sink")
	return c
}

func queueCheck(stdout io.Writer) *cobra.Command {
	var q queueOpts
	c := &cobra.Command{
		Use:   "check",
		Short: "Check the store's structure and every record",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			db, err := q.open()
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Check(); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "store %s: OK\n", db.Path())
			return nil
		},
	}
	q.flags(c)
	return c
}

func versionCmd(stdout io.Writer) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go version, platform and compiled-in adapters",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := struct {
				Version  string   `json:"version"`
				Commit   string   `json:"commit"`
				Go       string   `json:"go"`
				Platform string   `json:"platform"`
				Sources  []string `json:"sources"`
				Sinks    []string `json:"sinks"`
				Omitted  []string `json:"omitted,omitempty"` // build tags that left adapters out
			}{buildinfo.Version, buildinfo.Commit, runtime.Version(), buildinfo.Platform(),
				adapters.Types(adapters.DirSource), adapters.Types(adapters.DirSink), adapters.OmitTags()}
			if asJSON {
				return json.NewEncoder(stdout).Encode(v)
			}
			fmt.Fprintf(stdout, "edgerelay %s (commit %s)\n%s, %s\nsources: %s\nsinks:   %s\n",
				v.Version, v.Commit, v.Go, v.Platform, strings.Join(v.Sources, ", "), strings.Join(v.Sinks, ", "))
			if len(v.Omitted) > 0 {
				fmt.Fprintf(stdout, "omitted: %s\n", strings.Join(v.Omitted, ", "))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
