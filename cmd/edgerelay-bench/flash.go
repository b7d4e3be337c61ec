//go:build linux

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The flash figures of docs/flash.md (-flash): bytes the daemon writes per event,
// and per day, at 1, 10 and 100 events/s, with the sink healthy and during an outage
// (the sink answering 503 throughout, so that every event is stored and its retries
// recorded), each against a fresh daemon with the default store settings.

// flashRates are the rates measured, events/s.
var flashRates = []int{1, 10, 100}

// flashSeconds is how long each case publishes.
const flashSeconds = 20

// flashOut is one case.
type flashOut struct {
	rate     int
	outage   bool
	events   int
	perEvent float64 // bytes written per event
}

func (b *bench) flashCase(ctx context.Context, rate int, outage bool) (flashOut, error) {
	out := flashOut{rate: rate, outage: outage, events: rate * flashSeconds}
	interval := time.Second / time.Duration(rate)
	what := fmt.Sprintf("flash %d events/s, sink healthy", rate)
	if outage {
		what = fmt.Sprintf("flash %d events/s, sink down", rate)
	}
	s := b.hook.s
	err := b.session(ctx, b.hook, cfgOpts{warns: outage, commitWin: b.commitWin}, what, 1, func(d *daemon, cs []mqtt.Client) {
		sleepCtx(ctx, time.Second) // the start's own writes land first
		if outage {
			s.fail.Store(true)
			defer s.fail.Store(false)
		}
		w0 := b.proc(d, "io", "write_bytes")
		var w1 float64
		b.deliver(ctx, b.hook, what, cs, out.events, 1, interval, func() {
			if outage { // measured before the sink recovers: the outage's own writes
				sleepCtx(ctx, time.Second)
				w1 = b.proc(d, "io", "write_bytes")
				s.fail.Store(false)
			}
		})
		if !outage {
			sleepCtx(ctx, time.Second)
			w1 = b.proc(d, "io", "write_bytes")
		}
		out.perEvent = (w1 - w0) / float64(out.events)
	})
	return out, err
}

// onlyFlash runs every flash case and prints their table.
func (b *bench) onlyFlash(ctx context.Context) error {
	var rs []flashOut
	for _, outage := range []bool{false, true} {
		for _, rate := range flashRates {
			r, err := b.flashCase(ctx, rate, outage)
			if err != nil {
				return err
			}
			rs = append(rs, r)
		}
	}
	fmt.Print(flashTable(rs))
	if len(b.problems) > 0 {
		fmt.Println("\nDaemon problems:")
		for _, pr := range b.problems {
			fmt.Println("- " + pr)
		}
	}
	return nil
}

func flashTable(rs []flashOut) string {
	var w strings.Builder
	fmt.Fprintf(&w, "| rate | sink | events | bytes written per event | per day | per year |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		sink := "healthy"
		if r.outage {
			sink = "down (503)"
		}
		day := r.perEvent * float64(r.rate) * 86400
		fmt.Fprintf(&w, "| %d/s | %s | %d | %.0f B | %s | %s |\n", r.rate, sink, r.events, r.perEvent, size(day), size(day*365))
	}
	return w.String()
}

// size renders bytes in KB, MB, GB or TB (powers of 1024).
func size(b float64) string {
	for _, u := range []string{"B", "KB", "MB", "GB", "TB"} {
		if b < 1024 || u == "TB" {
			if u == "B" {
				return fmt.Sprintf("%.0f B", b)
			}
			return fmt.Sprintf("%.1f %s", b, u)
		}
		b /= 1024
	}
	return ""
}
