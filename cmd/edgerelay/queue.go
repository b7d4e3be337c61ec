package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/buildinfo"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/daemon/state"
	"github.com/edgerelay/edgerelay/hw/gpio"
	"github.com/edgerelay/edgerelay/store"
)

// queueOpts are the flags every queue subcommand shares.
type queueOpts struct {
	config string
	path   string
	cfg    *config.Config // loaded by resolve when a configuration is at hand
	stderr io.Writer      // where resolve says which configuration it used
}

func (q *queueOpts) flags(c *cobra.Command) {
	configFlag(c, &q.config)
	c.Flags().StringVar(&q.path, "store", "", "store file (default: store.path of the configuration)")
}

// resolve finds the store path: --store, else store.path of the configuration. The
// configuration (-c, else $EDGERELAY_CONFIG, else the installed one, else the
// built-in default when --store is not given) is kept for its sink names, and
// named on standard error with the store it gives.
func (q *queueOpts) resolve() (string, error) {
	if q.path != "" && q.config == "" && os.Getenv("EDGERELAY_CONFIG") == "" {
		return q.path, nil
	}
	cfg, origin, err := loadConfig(q.config)
	if err != nil {
		return "", err
	}
	q.cfg = cfg
	if q.path != "" {
		return q.path, nil
	}
	if q.stderr != nil {
		fmt.Fprintf(q.stderr, "edgerelay: store %s, from the configuration %s\n", cfg.Store.Path, origin)
	}
	return cfg.Store.Path, nil
}

func lockHint(err error) error {
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w (stop the daemon first: systemctl stop edgerelay)", err)
	}
	return err
}

// openRead opens the store read-only, for the commands that only inspect: nothing is
// created, written or quarantined. verify walks every record as well.
func (q *queueOpts) openRead(verify bool) (*store.DB, error) {
	path, err := q.resolve()
	if err != nil {
		return nil, err
	}
	db, err := store.OpenReadOnly(path, store.Options{Timeout: 500 * time.Millisecond, NoVerify: !verify})
	return db, lockHint(err)
}

// openWrite opens the store for the commands that change it, once a read-only open
// has shown it exists and is sound: a damaged store is reported (see queue salvage),
// never quarantined behind the operator's back.
func (q *queueOpts) openWrite() (*store.DB, error) {
	ro, err := q.openRead(true)
	if err != nil {
		return nil, err
	}
	path := ro.Path()
	if err := ro.Close(); err != nil {
		return nil, err
	}
	// The read-only open just walked every record: the writable one need not again
	// (a store of a few hundred MiB on an SD card takes seconds per walk).
	db, err := store.Open(path, store.Options{Timeout: 500 * time.Millisecond, NoVerify: true})
	if err != nil {
		return nil, lockHint(err)
	}
	if moved, reason := db.Quarantined(); moved != "" { // damaged between the two opens
		_ = db.Close()
		return nil, fmt.Errorf("the store went bad while opening it and was moved to %s (%s)", moved, reason)
	}
	return db, nil
}

// knownSink refuses a sink that is neither configured nor in the store, listing what
// exists. role is "--sink", "--from" or "--to".
func (q *queueOpts) knownSink(db *store.DB, role, name string, inStoreOnly bool) error {
	stored, err := db.Sinks()
	if err != nil {
		return err
	}
	if slices.Contains(stored, name) {
		return nil
	}
	var configured []string
	if q.cfg != nil {
		for _, s := range q.cfg.Sinks {
			configured = append(configured, s.Name)
		}
		configured = append(configured, pipeline.RejectedSink)
	}
	if !inStoreOnly && slices.Contains(configured, name) {
		return nil
	}
	list := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return strings.Join(l, ", ")
	}
	where := "configured nor in the store"
	if inStoreOnly {
		where = "in the store"
	}
	msg := fmt.Sprintf("%s %q: no such sink %s (in the store: %s", role, name, where, list(stored))
	if q.cfg != nil {
		msg += "; configured: " + list(configured)
	} else if !inStoreOnly {
		msg += "; give -c to also accept the configured sinks"
	}
	return &codeError{exitUsage, errors.New(msg + ")")}
}

func queueCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "queue",
		Short: "Inspect and repair the durable queue (with the daemon stopped)",
	}
	c.AddCommand(queueStats(stdout, stderr), queueList(stdout, stderr), queueRetry(stdout, stderr), queueDrop(stdout, stderr),
		queueMove(stdout, stderr), queueCheck(stdout, stderr), queueSalvage(stdout, stderr))
	return c
}

func queueStats(stdout, stderr io.Writer) *cobra.Command {
	q := queueOpts{stderr: stderr}
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats",
		Short: "Pending and dead-lettered events per sink, and the sources' saved state (read-only)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			db, err := q.openRead(false)
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
// per name, and one line per table (its record count and bytes: a table may hold
// 100 000 records, whose keys come from upstream and are not for a terminal); a
// stored name outside the sources' namespaces is shown whole.
func printState(w io.Writer, cursors map[string]int) error {
	if len(cursors) == 0 {
		return nil
	}
	type tableSum struct{ records, bytes int }
	tables := map[string]*tableSum{}
	keys := make([]string, 0, len(cursors))
	for k, n := range cursors {
		if src, table, _, ok := state.SplitTableKey(k); ok {
			row := state.Key(src, "table "+table)
			if tables[row] == nil {
				tables[row] = &tableSum{}
				keys = append(keys, row)
			}
			tables[row].records++
			tables[row].bytes += n
			continue
		}
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
		if t := tables[k]; t != nil {
			fmt.Fprintf(tw, "%s\t%s (%d records)\t%d\n", src, name, t.records, t.bytes)
			continue
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

func queueList(stdout, stderr io.Writer) *cobra.Command {
	q := queueOpts{stderr: stderr}
	var sink string
	var dead bool
	var limit int
	c := &cobra.Command{
		Use:   "list",
		Short: "List queued (or, with --dead, dead-lettered) events (read-only)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			db, err := q.openRead(false)
			if err != nil {
				return err
			}
			defer db.Close()
			sinks := []string{sink}
			if sink != "" {
				if err := q.knownSink(db, "--sink", sink, false); err != nil {
					return err
				}
			} else {
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
						ev := describe(d.Entry)
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s, d.Seq, ev.ID, ev.Topic, d.Key, age(d.At), oneLine(d.Reason))
						return nil
					})
				} else {
					err = db.Scan(s, 0, limit, func(e store.Entry) error {
						ev := describe(e)
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

func describe(e store.Entry) adapters.Event {
	var ev adapters.Event
	if e.Corrupt != "" {
		ev.ID = "(corrupt)"
		return ev
	}
	data := e.Data
	if err := ev.UnmarshalBinary(data); err != nil {
		ev.ID = "(undecodable)"
	}
	return ev
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return secret.Excerpt(s, 120)
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

func queueRetry(stdout, stderr io.Writer) *cobra.Command {
	q := queueOpts{stderr: stderr}
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
			if sink == pipeline.RejectedSink {
				// Its outbox has no lane: a retried event would wait there for ever.
				return &codeError{exitUsage, fmt.Errorf("--sink %s: refused events have no sink to go to; fix the route or the size limit "+
					"and send them again from their source (queue list --sink %s --dead shows them, queue drop --dead removes them)",
					sink, sink)}
			}
			db, err := q.openWrite()
			if err != nil {
				return err
			}
			defer db.Close()
			if err := q.knownSink(db, "--sink", sink, false); err != nil {
				return err
			}
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

func queueDrop(stdout, stderr io.Writer) *cobra.Command {
	q := queueOpts{stderr: stderr}
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
			db, err := q.openWrite()
			if err != nil {
				return err
			}
			defer db.Close()
			if err := q.knownSink(db, "--sink", sink, false); err != nil {
				return err
			}
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

func queueCheck(stdout, stderr io.Writer) *cobra.Command {
	q := queueOpts{stderr: stderr}
	c := &cobra.Command{
		Use:   "check",
		Short: "Check the store's structure and every record (read-only; exits 1 naming the damage)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			db, err := q.openRead(false)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Check(); err != nil {
				return fmt.Errorf("%w\nthe file was not changed; `edgerelay queue salvage` recovers what is readable", err)
			}
			fmt.Fprintf(stdout, "store %s: OK\n", db.Path())
			return nil
		},
	}
	q.flags(c)
	return c
}

func queueMove(stdout, stderr io.Writer) *cobra.Command {
	q := queueOpts{stderr: stderr}
	var from, to string
	c := &cobra.Command{
		Use:   "move --from OLD --to NEW",
		Short: "Move a sink's queued events and dead letters to another sink (a renamed or removed sink)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if from == "" || to == "" {
				return &codeError{exitUsage, errors.New("--from and --to are required")}
			}
			if from == to {
				return &codeError{exitUsage, fmt.Errorf("--from and --to are both %q", from)}
			}
			if to == pipeline.RejectedSink {
				return &codeError{exitUsage, fmt.Errorf("--to %s: refused events are kept there, not delivered; move to a configured sink", to)}
			}
			db, err := q.openWrite()
			if err != nil {
				return err
			}
			defer db.Close()
			if err := q.knownSink(db, "--from", from, true); err != nil {
				return err
			}
			if err := q.knownSink(db, "--to", to, false); err != nil {
				return err
			}
			m, err := db.Move(from, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "moved %d queued event(s) and %d dead letter(s) of %s to the end of %s\n", m.Outbox, m.Dead, from, to)
			return nil
		},
	}
	q.flags(c)
	c.Flags().StringVar(&from, "from", "", "the sink whose events to move (one in the store)")
	c.Flags().StringVar(&to, "to", "", "the sink that gets them (configured or in the store)")
	return c
}

func queueSalvage(stdout, stderr io.Writer) *cobra.Command {
	q := queueOpts{stderr: stderr}
	var out string
	c := &cobra.Command{
		Use:   "salvage [--store FILE] [--out FILE]",
		Short: "Recover every readable record of a damaged store into a new file, and say what was lost",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			path, err := q.resolve()
			if err != nil {
				return err
			}
			if out == "" {
				out = path + ".salvaged"
			}
			rep, err := store.Salvage(path, out, store.Options{Timeout: 500 * time.Millisecond})
			if err != nil {
				return lockHint(err)
			}
			fmt.Fprintf(stdout, "%s: %s\nwrote %s (%s is unchanged); to use it, stop the daemon and move it to store.path\n",
				path, &rep, out, path)
			return nil
		},
	}
	q.flags(c)
	c.Flags().StringVar(&out, "out", "", "the new store file, which must not exist (default: the store's path + .salvaged)")
	return c
}

func versionCmd(stdout io.Writer) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go version, platform and compiled-in adapters",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			omitted := append(adapters.OmitTags(), lifecycle.OmitTags()...)
			if !gpio.Built {
				omitted = append(omitted, gpio.OmitTag)
			}
			v := struct {
				Version  string   `json:"version"`
				Commit   string   `json:"commit"`
				Go       string   `json:"go"`
				Platform string   `json:"platform"`
				Sources  []string `json:"sources"`
				Sinks    []string `json:"sinks"`
				Events   []string `json:"events"`            // lifecycle-event adapters
				Omitted  []string `json:"omitted,omitempty"` // build tags that left adapters (or the GPIO LED backend) out
			}{buildinfo.Version, buildinfo.Commit, runtime.Version(), buildinfo.Platform(),
				adapters.Types(adapters.DirSource), adapters.Types(adapters.DirSink), lifecycle.Names(),
				slices.Sorted(slices.Values(omitted))}
			if asJSON {
				return json.NewEncoder(stdout).Encode(v)
			}
			fmt.Fprintf(stdout, "edgerelay %s (commit %s)\n%s, %s\nsources: %s\nsinks:   %s\nevents:  %s\n",
				v.Version, v.Commit, v.Go, v.Platform, strings.Join(v.Sources, ", "), strings.Join(v.Sinks, ", "),
				strings.Join(v.Events, ", "))
			if len(v.Omitted) > 0 {
				fmt.Fprintf(stdout, "omitted: %s\n", strings.Join(v.Omitted, ", "))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
