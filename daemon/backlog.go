package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
)

// Backlog visibility: at start every sink with queued events is logged (count, age of
// the oldest); while a sink's backlog drains, every backlogEvery a progress line gives
// the rate, what remains and an estimate of the time to empty, and the same is on
// /ready as the sink's degraded "draining" condition with its fields; when the backlog
// is empty a final "backlog drained" line ends it. A backlog that does not shrink
// (the sink is down) gets no progress line: the sink's own conditions say why.
const (
	backlogEvery = 10 * time.Second
	// backlogMin is the depth from which a backlog that builds up while running is
	// followed; one queued at start is followed whatever its size.
	backlogMin = 100
)

// backlogWatch follows the sinks' backlogs; step runs on the daemon's clock.
type backlogWatch struct {
	log    *slog.Logger
	health *health.Tracker
	clock  clock.Clock
	status func() []pipeline.SinkStatus
	// stored says what a sink's outbox held at start (Pipeline.StoredAtStart): the
	// events delivered since are part of the backlog being drained.
	stored func(sink string) (int, time.Time)
	sinks  map[string]*drain
}

// drain is one sink's backlog being followed.
type drain struct {
	active    bool      // a backlog is being followed
	since     time.Time // when it was first seen
	first     int64     // its depth then
	lastDepth int64
	lastAt    time.Time
}

func newBacklogWatch(log *slog.Logger, h *health.Tracker, clk clock.Clock, status func() []pipeline.SinkStatus,
	stored func(string) (int, time.Time)) *backlogWatch {
	return &backlogWatch{log: log, health: h, clock: clk, status: status, stored: stored, sinks: map[string]*drain{}}
}

// start logs the backlog stored at start, per sink, and begins following it.
func (w *backlogWatch) start() {
	now := w.clock.Now()
	for _, s := range w.status() {
		n, oldest := w.stored(s.Name)
		dr := &drain{lastDepth: max(s.Depth, int64(n)), lastAt: now}
		w.sinks[s.Name] = dr
		if n == 0 {
			continue
		}
		dr.active, dr.since, dr.first = true, now, int64(n)
		args := []any{"sink", s.Name, "events", n}
		if !oldest.IsZero() {
			args = append(args, "oldest_age", now.Sub(oldest).Round(time.Second).String())
		}
		w.log.Info("queued backlog at start", args...)
	}
}

// step compares every sink's depth with the last step's: it logs and shows the
// progress of a draining backlog, and its end.
func (w *backlogWatch) step() {
	now := w.clock.Now()
	for _, s := range w.status() {
		dr := w.sinks[s.Name]
		if dr == nil {
			dr = &drain{lastDepth: s.Depth, lastAt: now}
			w.sinks[s.Name] = dr
			continue
		}
		elapsed := now.Sub(dr.lastAt).Seconds()
		delta := dr.lastDepth - s.Depth
		dr.lastDepth, dr.lastAt = s.Depth, now
		comp := "sink:" + s.Name
		switch {
		case dr.active && s.Depth == 0:
			w.log.Info("backlog drained", "sink", s.Name, "events", dr.first, "took", now.Sub(dr.since).Round(time.Second).String())
			*dr = drain{lastAt: now}
			w.health.Set(comp, "draining", true, health.Degraded, "")
			w.health.SetFields(comp, nil)
		case !dr.active && s.Depth >= backlogMin:
			dr.active, dr.since, dr.first = true, now, s.Depth
		case dr.active && delta > 0 && elapsed > 0:
			rate := float64(delta) / elapsed
			eta := time.Duration(float64(s.Depth) / rate * float64(time.Second)).Round(time.Second)
			w.log.Info("draining backlog", "sink", s.Name, "remaining", s.Depth,
				"rate_per_s", math.Round(rate*10)/10, "eta", eta.String())
			w.health.Set(comp, "draining", false, health.Degraded,
				fmt.Sprintf("draining backlog: %d left at %.1f events/s, about %s to empty", s.Depth, rate, eta))
			w.health.SetFields(comp, map[string]any{
				"backlog_remaining": s.Depth, "backlog_rate_per_s": math.Round(rate*10) / 10, "backlog_eta_s": int64(eta.Seconds()),
			})
		case dr.active && delta <= 0:
			// Not shrinking (the sink is down or slower than what arrives): no
			// progress to show; the sink's own conditions say why.
			w.health.Set(comp, "draining", true, health.Degraded, "")
			w.health.SetFields(comp, nil)
		}
	}
}

// run logs the start backlog once the pipeline has counted it, then steps every
// backlogEvery until ctx ends.
func (w *backlogWatch) run(ctx context.Context, started <-chan struct{}) {
	select {
	case <-started:
	case <-ctx.Done():
		return
	}
	w.start()
	t := w.clock.NewTicker(backlogEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			w.step()
		case <-ctx.Done():
			return
		}
	}
}
