//go:build linux

// Command edgerelay-bench measures edgerelay against the targets of the performance
// guide and writes the results as Markdown (`make bench` writes docs/benchmarks.md).
//
// It builds the daemon once, then for each workload starts it as a child process
// with a generated configuration in a temporary directory, publishes ~215-byte JSON
// alerts at QoS 1 to the daemon's embedded MQTT broker with paho clients, and
// receives the deliveries on an HTTP sink inside this process. Everything binds to
// 127.0.0.1. Figures are medians of -runs runs; the durable throughput is compared
// with the same binary with fsync turned off, in the same run.
//
// W1, W2 and W3 run a second time through the ilert sink and the ilert route
// transform, against the project's ilert API fake (adapters/ilert/ilerttest) served
// inside this process (ilert.go).
//
// W11 (federation.go) drives the Alerta federation: HTTP clients post alerts to the
// daemon's alerta source, and its alerta sink forwards them with Hawk to the
// project's Alerta API fake (adapters/alerta/alertatest), also served inside this
// process; -w11 runs only it and prints its tables.
//
// It reads /proc, so it runs on Linux only. Usage, from the module root:
//
//	go run ./cmd/edgerelay-bench -out docs/benchmarks.md [-runs 3] [-outage 60s] [-quick]
//
// For profiling and before/after comparisons, -w1 runs only the W1 bursts (through
// the webhook and through the ilert sink) and prints their tables, and -bin takes an
// already built daemon (for example one built without -s -w, for perf):
//
//	go run ./cmd/edgerelay-bench -w1 [-runs 3] [-bin /tmp/edgerelay]
//	go run ./cmd/edgerelay-bench -w11 [-runs 1] [-quick]
//	go run ./cmd/edgerelay-bench -w12 [-runs 3]
//	go run ./cmd/edgerelay-bench -page [-runs 1] [-page-seconds 60s]
//
// W12 (events.go) repeats the W1 burst with lifecycle events off, published to the
// machine's NATS, and aimed at an unreachable broker. -page (page.go) measures the
// status page: its first load in bytes, and the idle daemon's CPU and memory with no
// page open, with the page's event stream open and with the page polling.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	out     string
	runs    int
	quick   bool
	outage  time.Duration // W3
	w1      bool          // only the W1 bursts, printed to standard output
	w2      bool          // only W2, printed to standard output
	w10     bool          // only W10, printed to standard output
	w11     bool          // only W11, printed to standard output
	w12     bool          // only W12, printed to standard output
	flash   bool          // only the flash figures (docs/flash.md), printed to standard output
	commitW string        // -flash: store.commit_window
	page    bool          // only the status page's weight and idle cost (issue 12 item 8), printed to standard output
	pageFor time.Duration // -page: each case's window
	minimal bool          // -w1 through a minimal ilert peer
	bin     string        // the daemon to run instead of building one
}

// sizes are the event counts of the workloads.
type sizes struct{ pairs, burst, rate, trickle, stored, backlog, starts int }

// results is everything the report shows.
type results struct {
	opts           options
	sz             sizes
	started, ended time.Time
	machine        machine
	cmds           []string // the build commands
	bins           []binary
	runs           []runOut
	cold           []float64 // W7, ms per start
	problems       []string
}

// binary is one stripped cross-build and its size.
type binary struct {
	name string
	size int64
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "write the Markdown report to this file")
	flag.IntVar(&o.runs, "runs", 3, "runs per workload; the report gives medians")
	flag.BoolVar(&o.quick, "quick", false, "one run with small counts: a smoke test, not a measurement")
	flag.DurationVar(&o.outage, "outage", defaultOutage, "W3: how long the ilert fake answers 503 at least (the guide's 60 s)")
	flag.BoolVar(&o.w1, "w1", false, "run only the W1 bursts (webhook and ilert) and print their tables instead of writing -out")
	flag.BoolVar(&o.minimal, "minimal-ilert", false, "with -w1: the ilert peer answers 202 without the fake's validation and recording")
	flag.BoolVar(&o.w2, "w2", false, "run only W2 (latency at 500 events/s, webhook and ilert) and print each run's percentiles instead of writing -out")
	flag.BoolVar(&o.w10, "w10", false, "run only W10 (edge poll → webhook) and print its summary row and table instead of writing -out")
	flag.BoolVar(&o.w11, "w11", false, "run only W11 (Alerta federation: alerta source → alerta sink at the Alerta fake) and print its summary rows and tables instead of writing -out")
	flag.BoolVar(&o.w12, "w12", false, "run only W12 (W1 with lifecycle events off, to a healthy NATS, to an unreachable broker) and print its rows and table instead of writing -out")
	flag.BoolVar(&o.flash, "flash", false, "run only the flash figures (bytes written per event and per day at 1, 10 and 100 events/s, sink healthy and down) and print their table")
	flag.StringVar(&o.commitW, "commit-window", "", "with -flash: the daemons' store.commit_window (default 5ms)")
	flag.BoolVar(&o.page, "page", false, "run only the status page's figures (first-load weight; idle CPU and RSS with no page, the page's event stream, its polling) and print their tables")
	flag.DurationVar(&o.pageFor, "page-seconds", 60*time.Second, "with -page: how long each idle case is measured")
	flag.StringVar(&o.bin, "bin", "", "run this daemon binary instead of building one (with -w1, -w2, -w10 or -w11; the cross builds are skipped)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, o, log); err != nil {
		log.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	sz := sizes{pairs: 3, burst: 20000, rate: 5000, trickle: 20, stored: 20000, backlog: 100000, starts: 5}
	if o.quick {
		o.runs, sz = 1, sizes{pairs: 1, burst: 2000, rate: 1000, trickle: 5, stored: 2000, backlog: 5000, starts: 3}
		o.outage = min(o.outage, 2*time.Second)
	}
	if o.runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	if o.outage < 0 {
		return errors.New("-outage must not be negative")
	}
	if o.minimal && !o.w1 {
		return errors.New("-minimal-ilert needs -w1")
	}
	if o.bin != "" && !o.w1 && !o.w2 && !o.w10 && !o.w11 && !o.w12 && !o.flash && !o.page {
		return errors.New("-bin needs -w1, -w2, -w10, -w11, -w12, -flash or -page: the full report describes the binary it builds")
	}
	root, err := output(ctx, "", "go", "env", "GOMOD")
	if root == "" || root == os.DevNull {
		return fmt.Errorf("find the module root (run this from the repository): %v", err)
	}
	root = filepath.Dir(root)
	tmp, err := os.MkdirTemp("", "edgerelay-bench-")
	if err != nil {
		return fmt.Errorf("make temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	res := &results{opts: o, sz: sz, started: time.Now().UTC(), machine: readMachine(ctx, root, tmp)}

	targets := []struct{ name, env, out string }{
		{"", "", "edgerelay"}, // the binary benchmarked
		{"linux/arm GOARM=6", " GOOS=linux GOARCH=arm GOARM=6", "edgerelay_linux_armv6"},
		{"linux/arm GOARM=7", " GOOS=linux GOARCH=arm GOARM=7", "edgerelay_linux_armv7"},
		{"linux/arm64", " GOOS=linux GOARCH=arm64", "edgerelay_linux_arm64"},
		{"linux/mipsle GOMIPS=softfloat", " GOOS=linux GOARCH=mipsle GOMIPS=softfloat", "edgerelay_linux_mipsle_softfloat"},
		{"linux/amd64", " GOOS=linux GOARCH=amd64", "edgerelay_linux_amd64"},
	}
	bin := filepath.Join(tmp, "edgerelay")
	switch {
	case o.bin != "":
		bin, targets = o.bin, nil
	case o.w1, o.w2, o.w10, o.w11, o.w12, o.flash, o.page:
		targets = targets[:1]
	}
	for _, t := range targets {
		env, out := "CGO_ENABLED=0"+t.env, filepath.Join(tmp, t.out)
		res.cmds = append(res.cmds, fmt.Sprintf(`%s go build -trimpath -ldflags "-s -w" -o %s ./cmd/edgerelay`, env, out))
		log.Info("building", "cmd", res.cmds[len(res.cmds)-1])
		if _, err := output(ctx, root, "env", append(strings.Fields(env), "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/edgerelay")...); err != nil {
			return err
		}
		if fi, err := os.Stat(out); err == nil && t.name != "" {
			res.bins = append(res.bins, binary{t.name, fi.Size()})
		}
	}

	hook := &peer{s: newSink(nil, "id", "ts", "key"), mk: payload}
	url, stopHook, err := hook.s.serve()
	if err != nil {
		return err
	}
	defer stopHook()
	hook.url = url + "/ingest"
	il, stopIlert, err := ilertPeer(o.minimal)
	if err != nil {
		return err
	}
	defer stopIlert()
	b := &bench{bin: bin, tmp: tmp, hook: hook, il: il, sz: sz, outage: o.outage, log: log}
	if o.w2 {
		return b.onlyLatency(ctx, o.runs)
	}
	if o.w10 {
		return b.onlyEdge(ctx, o.runs)
	}
	if o.w11 {
		return b.onlyFed(ctx, o.runs)
	}
	if o.w12 {
		return b.onlyEvents(ctx, o.runs)
	}
	if o.flash {
		b.commitWin = o.commitW
		return b.onlyFlash(ctx)
	}
	if o.page {
		return b.onlyPage(ctx, o.runs, o.pageFor)
	}
	if o.w1 {
		for i := range o.runs {
			log.Info("W1 run", "n", i+1, "of", o.runs)
			var r runOut
			if r.w1, err = b.pairs(ctx, b.hook, i, "W1"); err == nil {
				r.il.w1, err = b.pairs(ctx, b.il, i, "ilert W1")
			}
			if err != nil {
				return fmt.Errorf("run %d: %w", i+1, err)
			}
			res.runs = append(res.runs, r)
		}
		res.problems, res.ended, res.machine.loadEnd = b.problems, time.Now().UTC(), loadavg()
		_, err := os.Stdout.WriteString(reportW1(res))
		return err
	}
	for i := range o.runs {
		log.Info("run", "n", i+1, "of", o.runs)
		r, err := b.oneRun(ctx, i)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		res.runs = append(res.runs, r)
	}
	for i := range sz.starts {
		log.Info("W7 cold start", "start", i+1)
		ms, err := b.coldStart(ctx)
		if err != nil {
			return err
		}
		res.cold = append(res.cold, ms)
	}
	res.problems, res.ended, res.machine.loadEnd = b.problems, time.Now().UTC(), loadavg()
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return fmt.Errorf("make report directory: %w", err)
	}
	text := report(res)
	if old, err := os.ReadFile(o.out); err == nil {
		text = withKeptTail(text, string(old))
	}
	if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	log.Info("report written", "file", o.out, "took", res.ended.Sub(res.started).Round(time.Second))
	return nil
}

// keptMarker starts the hand-written tail of the report (comparisons with earlier
// builds, made with -w1 -bin), which a regeneration keeps as it is.
const keptMarker = "<!-- kept across regenerations: hand-run comparisons below -->"

// withKeptTail appends to a freshly generated report the part of the previous one from
// keptMarker on, if it has one.
func withKeptTail(report, previous string) string {
	i := strings.Index(previous, keptMarker)
	if i < 0 {
		return report
	}
	return strings.TrimRight(report, "\n") + "\n\n" + previous[i:]
}

// output runs a command in dir and returns its trimmed standard output.
func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
