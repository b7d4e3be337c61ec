//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// W12 runs the W1 burst (durable, through the webhook) four ways: lifecycle events
// off; on as configured by default (alert_relayed off: a handful of events per
// start), publishing to the machine's NATS (core, 127.0.0.1:4222); on with
// edge.alert.relayed for every delivery; and that with the broker unreachable (a
// closed port), where every event goes into the bounded buffer and the oldest are
// dropped. Publishing must not slow relaying.

// eventsNATS is the healthy broker of W12.
const eventsNATS = "127.0.0.1:4222"

// eventsModes are W12's three daemons, in the order of run 1 (later runs rotate it).
var eventsModes = []string{"off", "default", "healthy", "unreachable"}

// eventsOut is one run of W12.
type eventsOut struct {
	bursts    map[string]burstOut
	published float64 // healthy: lifecycle events the broker took during the session
	dropped   float64 // unreachable: lifecycle events dropped
	skipped   string  // why W12 did not run (no NATS here)
}

func (b *bench) eventsStep(ctx context.Context, r *runOut) error {
	i := b.evRuns
	b.evRuns++
	r.ev = eventsOut{bursts: map[string]burstOut{}}
	if c, err := net.DialTimeout("tcp", eventsNATS, 2*time.Second); err != nil {
		r.ev.skipped = fmt.Sprintf("no NATS on %s (%v)", eventsNATS, err)
		b.problem("W12: %s", r.ev.skipped)
		return nil
	} else {
		c.Close()
	}
	for k := range eventsModes {
		mode := eventsModes[(i+k)%len(eventsModes)]
		o := cfgOpts{}
		switch mode {
		case "default":
			o.events = "nats://" + eventsNATS
		case "healthy":
			o.events, o.relayed = "nats://"+eventsNATS, true
		case "unreachable":
			o.events, o.relayed, o.warns = "nats://"+freeAddr(), true, true
		}
		out, err := b.burst(ctx, b.hook, o, fmt.Sprintf("W12 W1 burst, lifecycle events %s, run %d", mode, i+1))
		if err != nil {
			return err
		}
		r.ev.bursts[mode] = out
		switch mode {
		case "healthy":
			r.ev.published = out.lifePublished
		case "unreachable":
			r.ev.dropped = out.lifeDropped
		}
	}
	return nil
}

// lifecycleStats scrapes the daemon's lifecycle counters: events published (all
// types) and dropped.
func lifecycleStats(httpAddr string) (published, dropped float64, err error) {
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		name, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, perr := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if perr != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "edgerelay_lifecycle_published_total"):
			published += f
		case name == "edgerelay_lifecycle_dropped_total":
			dropped += f
		}
	}
	return published, dropped, nil
}

// eventsChecks are W12's summary rows: each mode's burst rate over the events-off
// burst of the same run.
func eventsChecks(rs []runOut) []check {
	ratio := func(mode string) []float64 {
		var out []float64
		for _, x := range rs {
			if x.ev.skipped != "" || x.ev.bursts == nil {
				continue
			}
			out = append(out, x.ev.bursts[mode].rate/x.ev.bursts["off"].rate)
		}
		return out
	}
	med := func(v []float64) float64 {
		if len(v) == 0 {
			return math.NaN()
		}
		return median(v)
	}
	d, h, u := ratio("default"), ratio("healthy"), ratio("unreachable")
	return []check{
		{"W12 W1 durable burst with lifecycle events on (NATS healthy, default settings) ÷ events off", "≥ 0.90×", med(d), 0.9, false, "%.2f×",
			"noise between the bursts: by default the publisher sends a handful of events per start"},
		{"W12 W1 durable burst with edge.alert.relayed for every delivery (NATS healthy) ÷ events off", "≥ 0.70×", med(h), 0.7, false, "%.2f×",
			"the CPU of one more message per event: the envelope, nats.go's publish and the NATS server itself, on the same two shared cores"},
		{"W12 W1 durable burst with edge.alert.relayed and the lifecycle broker unreachable ÷ events off", "≥ 0.90×", med(u), 0.9, false, "%.2f×",
			"the CPU of building and dropping an envelope per delivered event while the broker is away"},
	}
}

// reportW12 is W12's section.
func reportW12(rs []runOut) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p("\n## W12: W1 with lifecycle events\n\nThe W1 durable burst (%s) against four daemons per run, in rotating order: lifecycle events off; on with the default settings, publishing to the machine's NATS (`events: { enabled: true, adapter: nats }`, core NATS: the start's few events); on with `alert_relayed: true`, so every delivery adds an `edge.alert.relayed` CloudEvent (published in batches of up to 128, one flush each); and that with the broker unreachable (a closed port), so every event is buffered and the oldest dropped. Published and dropped are the daemon's `edgerelay_lifecycle_*` counters at the end of the session; the NATS server runs on the same two cores.\n\n", "webhook sink")
	p("| run | off, events/s | default, events/s | default ÷ off | relayed, events/s | relayed ÷ off | published | unreachable, events/s | unreachable ÷ off | dropped | daemon CPU µs/event off / default / relayed / unreachable |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, x := range rs {
		if x.ev.skipped != "" {
			p("| %d | not run: %s | | | | | | | | | |\n", i+1, x.ev.skipped)
			continue
		}
		off, d, h, u := x.ev.bursts["off"], x.ev.bursts["default"], x.ev.bursts["healthy"], x.ev.bursts["unreachable"]
		p("| %d | %.0f | %.0f | %.2f | %.0f | %.2f | %.0f | %.0f | %.2f | %.0f | %.0f / %.0f / %.0f / %.0f |\n", i+1, off.rate, d.rate, d.rate/off.rate,
			h.rate, h.rate/off.rate, x.ev.published, u.rate, u.rate/off.rate, x.ev.dropped, off.daemonCPU, d.daemonCPU, h.daemonCPU, u.daemonCPU)
	}
	return w.String()
}

// onlyEvents runs W12 alone (-w12) and prints its rows and table.
func (b *bench) onlyEvents(ctx context.Context, runs int) error {
	var rs []runOut
	for i := range runs {
		b.log.Info("W12 run", "n", i+1, "of", runs)
		var r runOut
		if err := b.eventsStep(ctx, &r); err != nil {
			return fmt.Errorf("W12 run %d: %w", i+1, err)
		}
		rs = append(rs, r)
	}
	fmt.Print("| workload | target | measured | met? |\n|---|---|---|---|\n")
	for _, c := range eventsChecks(rs) {
		fmt.Print(c.row())
	}
	fmt.Print(reportW12(rs))
	if len(b.problems) > 0 {
		fmt.Println("\nDaemon problems:")
		for _, pr := range b.problems {
			fmt.Println("- " + pr)
		}
	}
	return nil
}
