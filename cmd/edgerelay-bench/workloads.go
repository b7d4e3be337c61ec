//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// bench holds what every workload shares.
type bench struct {
	bin, tmp  string
	hook, il  *peer // the webhook target; the ilert API fake
	sz        sizes
	outage    time.Duration // W3's sink outage, at least
	log       *slog.Logger
	problems  []string // daemon misbehaviour seen along the way, for the report
	evRuns    int      // W12 runs so far (each rotates the order of its three daemons)
	commitWin string   // -flash: store.commit_window of its daemons ("" for 5ms)
}

// peer is what the daemons deliver to: the driver's webhook endpoint, or the ilert
// API fake (ilerttest) behind the same recording sink.
type peer struct {
	s     *sink
	url   string                   // the webhook URL, or the fake's base URL (api_host)
	mk    func(uint32, int) []byte // the MQTT payload of event i
	fake  *ilerttest.Server        // nil for the webhook
	ilert bool                     // an ilert sink behind the ilert transform, at fake
}

// runOut is one run's figures.
type runOut struct {
	w1              []pair  // W1 (with W5a, W6 idle-on and peak)
	p50, p99, pmax  float64 // W2, ms
	trickle, stored float64 // W5b, W5c: bytes written per event
	drain, idleOff  float64 // W5c: events/s after recovery; W6: MiB
	il              ilertRun
	edge            edgeOut   // W10
	fed             fedOut    // W11
	ev              eventsOut // W12
}

// pair is a durable burst and its no-sync baseline, run back to back.
type pair struct{ durable, noSync burstOut }

// burstOut is one W1 burst against one daemon.
type burstOut struct {
	rate               float64 // events/s, first publish to last new id at the sink
	unique, dups       int
	bytesPerEvent      float64 // W5a
	idle, peak         float64 // MiB: VmRSS 2 s after ready, VmHWM after the burst
	daemonCPU, selfCPU float64 // µs of CPU per event: the daemon; this driver (publishers, sink)
	daemonSys, gcCPU   float64 // µs of the daemon's CPU per event: in the kernel; in its garbage collector
	allocs, allocBytes float64 // the daemon's heap allocations per event: objects, bytes
	syscalls           float64 // the daemon's read and write system calls per event (/proc/<pid>/io syscr + syscw)
	busy               float64 // share of all CPUs busy during the burst, 0..1
	lifePublished      float64 // W12: lifecycle events published during the session
	lifeDropped        float64 // W12: lifecycle events dropped
}

func (b *bench) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.log.Warn("daemon problem", "what", msg)
	b.problems = append(b.problems, msg)
}

// oneRun runs every per-run workload once: the webhook workloads, then the ilert
// ones (see ilert.go).
func (b *bench) oneRun(ctx context.Context, i int) (r runOut, err error) {
	if r.w1, err = b.pairs(ctx, b.hook, i, "W1"); err != nil {
		return r, err
	}
	for _, step := range []func(context.Context, *runOut) error{b.latency, b.trickle, b.stored, b.idleNoBroker, b.edgeStep, b.fedStep, b.eventsStep} {
		if err := step(ctx, &r); err != nil {
			return r, err
		}
	}
	return r, b.ilertRun(ctx, i, &r.il)
}

// pairs runs W1 against p as sz.pairs durable/no-sync pairs whose order alternates,
// so neither mode always gets the warmer machine; i is the run.
func (b *bench) pairs(ctx context.Context, p *peer, i int, label string) ([]pair, error) {
	out := make([]pair, b.sz.pairs)
	for j := range out {
		for k := range 2 {
			noSync := (i+j+k)%2 == 1
			dst, what := &out[j].durable, fmt.Sprintf("%s durable, pair %d.%d", label, i+1, j+1)
			if noSync {
				dst, what = &out[j].noSync, fmt.Sprintf("%s no-sync, pair %d.%d", label, i+1, j+1)
			}
			var err error
			if *dst, err = b.burst(ctx, p, cfgOpts{noSync: noSync}, what); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// session starts a daemon delivering to p, waits for /health, opens conns publisher
// connections, runs fn, then finishes the daemon. The fake, if any, starts with no
// recorded requests and no faults.
func (b *bench) session(ctx context.Context, p *peer, o cfgOpts, what string, conns int, fn func(*daemon, []mqtt.Client)) error {
	b.log.Info(what)
	p.s.reset(0)
	if p.fake != nil {
		p.s.pause(p.fake.Reset)
	}
	o.ilert = p.ilert
	d, err := launch(b.bin, b.tmp, p.url, o)
	if err != nil {
		return err
	}
	defer b.finish(d, p, what, !o.fastRetry && !o.warns)
	if err := d.waitHealthy(ctx, 10*time.Second); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	cs, err := connectN(d.brokerAddr, conns)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer disconnect(cs)
	fn(d, cs)
	return ctx.Err()
}

// finish stops d; duplicates at the sink, an unclean exit and (if quiet) anything
// the daemon logged are recorded as problems.
func (b *bench) finish(d *daemon, p *peer, what string, quiet bool) {
	st := p.s.stats()
	if st.dups > 0 {
		gaps := col(st.dupGaps, millis)
		if p.s.inner != nil { // the ilert and alerta sinks send no relay event id
			b.problem("%s: %d duplicate deliveries without a crash, each after the fake had answered %d to the same id, %.1f ms (median; range %.1f–%.1f) after the first delivery",
				what, st.dups, p.s.acceptCode(), median(gaps), slices.Min(gaps), slices.Max(gaps))
		} else {
			b.problem("%s: %d duplicate deliveries without a crash, each after the sink had answered 200 to the same id; %d under another relay event id (ingested twice), the rest redeliveries of the same relay event, %.1f ms (median; range %.1f–%.1f) after the first delivery",
				what, st.dups, st.reIngest, median(gaps), slices.Min(gaps), slices.Max(gaps))
		}
	}
	if st.outOfOrder > 0 {
		b.problem("%s: %d events reached the sink before an earlier event of the same key", what, st.outOfOrder)
	}
	if err := d.stop(); err != nil {
		b.problem("%s: %v", what, err)
	} else if tail := d.logTail(); tail != "" && quiet {
		b.problem("%s: the daemon logged at warn level or above: %s", what, tail)
	}
}

// deliver publishes n events (see publish), calls then (if set), and waits up to
// 2 min for all of them at the sink. It returns when publishing began, and records
// missing events or failed publishes as a problem.
func (b *bench) deliver(ctx context.Context, p *peer, what string, cs []mqtt.Client, n, window int, interval time.Duration, then func()) (time.Time, sinkStats) {
	done := p.s.reset(n)
	t0 := time.Now()
	failed := publish(ctx, cs, p.mk, rand.Uint32(), 0, n, window, interval)
	if then != nil {
		then()
	}
	ok := waitSink(ctx, done, 2*time.Minute)
	st := p.s.stats()
	if !ok || failed > 0 {
		b.problem("%s: %d of %d events reached the sink within 2 min; %d publishes failed", what, st.unique, n, failed)
	}
	return t0, st
}

// proc reads a /proc field of the daemon (NaN, and a problem, if it cannot).
func (b *bench) proc(d *daemon, file, name string) float64 {
	v, err := procField(d.pid(), file, name)
	if err != nil {
		b.problem("%v", err)
		return math.NaN()
	}
	return v
}

// burst runs W1 (with W5a, W6 idle-on and peak) against one fresh daemon.
func (b *bench) burst(ctx context.Context, p *peer, o cfgOpts, what string) (r burstOut, err error) {
	if p.fake != nil {
		// The fake validates and answers every request but keeps no record: the
		// recording sink counts the deliveries, and 20,000 records (bodies, cloned
		// headers, decoded fields) would weigh on the two cores the burst measures.
		p.fake.SetRecord(false)
		defer p.fake.SetRecord(true)
	}
	err = b.session(ctx, p, o, what, 4, func(d *daemon, cs []mqtt.Client) {
		sleepCtx(ctx, 2*time.Second)
		r.idle = b.proc(d, "status", "VmRSS") / 1024
		g0, gerr := goStatsOf(d.httpAddr)
		sys0 := b.syscalls(d)
		w0, sc := b.proc(d, "io", "write_bytes"), selfCPU()
		du, ds := cpuSplit(d.pid())
		mb, mt := machineCPU()
		t0, st := b.deliver(ctx, p, what, cs, b.sz.burst, 1000, 0, nil)
		r.rate = float64(st.unique) / st.last.Sub(t0).Seconds()
		mb1, mt1 := machineCPU()
		du1, ds1 := cpuSplit(d.pid())
		n := float64(b.sz.burst) / 1e6
		r.daemonCPU, r.daemonSys = (du1+ds1-du-ds)/n, (ds1-ds)/n
		r.selfCPU, r.busy = (selfCPU()-sc)/n, (mb1-mb)/(mt1-mt)
		r.syscalls = (b.syscalls(d) - sys0) / float64(b.sz.burst)
		g1, gerr1 := goStatsOf(d.httpAddr)
		if err := errors.Join(gerr, gerr1); err != nil {
			b.problem("%s: %v", what, err)
			g1 = goStats{math.NaN(), math.NaN(), math.NaN()}
		}
		r.allocs = (g1.mallocs - g0.mallocs) / float64(b.sz.burst)
		r.allocBytes = (g1.allocBytes - g0.allocBytes) / float64(b.sz.burst)
		r.gcCPU = (g1.gcSeconds - g0.gcSeconds) / n
		sleepCtx(ctx, time.Second) // late commits, deletes and duplicates
		r.bytesPerEvent = (b.proc(d, "io", "write_bytes") - w0) / float64(b.sz.burst)
		r.peak = b.proc(d, "status", "VmHWM") / 1024
		st = p.s.stats()
		r.unique, r.dups = st.unique, st.dups
		if o.events != "" {
			var lerr error
			if r.lifePublished, r.lifeDropped, lerr = lifecycleStats(d.httpAddr); lerr != nil {
				b.problem("%s: lifecycle counters: %v", what, lerr)
			}
		}
	})
	return r, err
}

// syscalls is the number of read and write system calls the daemon has made.
func (b *bench) syscalls(d *daemon) float64 {
	return b.proc(d, "io", "syscr") + b.proc(d, "io", "syscw")
}

// onlyLatency runs W2 runs times through each sink and prints the percentiles of
// each run (-w2): for before/after comparisons of latency.
func (b *bench) onlyLatency(ctx context.Context, runs int) error {
	fmt.Println("| sink | run | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
	for _, p := range []*peer{b.hook, b.il} {
		name := "webhook"
		if p.ilert {
			name = "ilert"
		}
		for i := range runs {
			p50, p99, pmax, err := b.latencyAt(ctx, p, "W2 "+name)
			if err != nil {
				return fmt.Errorf("W2 %s run %d: %w", name, i+1, err)
			}
			fmt.Printf("| %s | %d | %.2f | %.2f | %.2f |\n", name, i+1, p50, p99, pmax)
		}
	}
	return nil
}

// latency runs W2 against the webhook.
func (b *bench) latency(ctx context.Context, r *runOut) (err error) {
	r.p50, r.p99, r.pmax, err = b.latencyAt(ctx, b.hook, "W2")
	return err
}

// latencyAt runs W2 against p: sz.rate events at 500 events/s; it returns the p50,
// p99 and maximum latency in ms.
func (b *bench) latencyAt(ctx context.Context, p *peer, label string) (p50, p99, pmax float64, err error) {
	err = b.session(ctx, p, cfgOpts{}, label+" latency at 500 events/s", 1, func(d *daemon, cs []mqtt.Client) {
		_, st := b.deliver(ctx, p, label, cs, b.sz.rate, 1000, 2*time.Millisecond, nil)
		ms := col(st.lat, millis)
		slices.Sort(ms)
		p50, p99, pmax = pct(ms, 0.5), pct(ms, 0.99), pct(ms, 1)
	})
	return p50, p99, pmax, err
}

// trickle runs W5b: one event per second to a healthy sink.
func (b *bench) trickle(ctx context.Context, r *runOut) error {
	return b.session(ctx, b.hook, cfgOpts{}, "W5b one event per second", 1, func(d *daemon, cs []mqtt.Client) {
		sleepCtx(ctx, time.Second) // let start-up writes land first
		w0 := b.proc(d, "io", "write_bytes")
		b.deliver(ctx, b.hook, "W5b", cs, b.sz.trickle, 1, time.Second, nil)
		sleepCtx(ctx, time.Second)
		r.trickle = (b.proc(d, "io", "write_bytes") - w0) / float64(b.sz.trickle)
	})
}

// stored runs W5c: a burst while the sink answers 503, then recovery.
func (b *bench) stored(ctx context.Context, r *runOut) error {
	s := b.hook.s
	return b.session(ctx, b.hook, cfgOpts{fastRetry: true}, "W5c burst into a failing sink", 4, func(d *daemon, cs []mqtt.Client) {
		w0 := b.proc(d, "io", "write_bytes")
		var t1 time.Time
		s.fail.Store(true)
		defer s.fail.Store(false)
		// Each PUBACK means the event is stored: the sink takes nothing yet.
		_, st := b.deliver(ctx, b.hook, "W5c", cs, b.sz.stored, 1000, 0, func() { s.fail.Store(false); t1 = time.Now() })
		r.drain = float64(st.unique) / st.last.Sub(t1).Seconds()
		sleepCtx(ctx, time.Second)
		r.stored = (b.proc(d, "io", "write_bytes") - w0) / float64(b.sz.stored)
	})
}

// idleNoBroker runs W6 with the broker off and no source.
func (b *bench) idleNoBroker(ctx context.Context, r *runOut) error {
	return b.session(ctx, b.hook, cfgOpts{brokerOff: true}, "W6 idle, broker off", 0, func(d *daemon, _ []mqtt.Client) {
		sleepCtx(ctx, 2*time.Second)
		r.idleOff = b.proc(d, "status", "VmRSS") / 1024
	})
}

// coldStart runs W7 once: exec to the first event at the sink, in ms, the publisher
// retrying its connection every millisecond.
func (b *bench) coldStart(ctx context.Context) (float64, error) {
	done := b.hook.s.reset(1)
	d, err := launch(b.bin, b.tmp, b.hook.url, cfgOpts{})
	if err != nil {
		return 0, err
	}
	defer b.finish(d, b.hook, "W7", true)
	c, err := connect(d.brokerAddr, "w7", 200*time.Millisecond)
	for end := d.started.Add(10 * time.Second); err != nil; c, err = connect(d.brokerAddr, "w7", 200*time.Millisecond) {
		if time.Now().After(end) || ctx.Err() != nil {
			return 0, fmt.Errorf("W7: could not connect to the broker within 10 s: %w: %s", err, d.logTail())
		}
		time.Sleep(time.Millisecond)
	}
	defer c.Disconnect(100)
	c.Publish("bench/alerts", 1, false, payload(rand.Uint32(), 0))
	if !waitSink(ctx, done, 10*time.Second) {
		return 0, errors.New("W7: the first event was not delivered within 10 s: " + d.logTail())
	}
	return millis(b.hook.s.stats().first.Sub(d.started)), nil
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the nearest-rank percentile p (0..1) of sorted xs.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return xs[max(0, int(math.Ceil(p*float64(len(xs))))-1)]
}

// median of xs (NaN when empty).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}
