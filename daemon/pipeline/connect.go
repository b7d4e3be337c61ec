package pipeline

import (
	"context"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon/events"
)

// connectLoop calls Connect with backoff whenever the sink needs it, until ctx ends.
func (l *lane) connectLoop(ctx context.Context) {
	first := true // the first attempt since start: its failure is a SinkDisconnected
	for {
		select {
		case <-l.connReq:
		case <-ctx.Done():
			return
		}
		for attempt := 1; ; attempt++ {
			err := l.sink.Connect(ctx)
			if err == nil {
				l.mu.Lock()
				l.connected = true
				l.p.healthGen.Add(1)
				l.mu.Unlock()
				first = false
				l.p.bus.Publish(events.Event{Kind: events.SinkConnected, Sink: l.name})
				if attempt > 1 {
					l.log.Info("sink connected", "attempt", attempt)
				}
				l.signal()
				break
			}
			if ctx.Err() != nil {
				return
			}
			d := l.retry.Delay(attempt, 0)
			l.mu.Lock()
			l.lastErr = truncate(err.Error())
			l.setFailingLocked(true)
			l.mu.Unlock()
			if first {
				first = false
				l.p.bus.Publish(events.Event{Kind: events.SinkDisconnected, Sink: l.name, Reason: err.Error()})
			}
			l.p.limiter.Warn(l.log, "connect:"+l.name, "sink connect failed", "attempt", attempt,
				"retry_in_s", d.Seconds(), "err", err)
			if !clock.Sleep(ctx, l.p.opt.Clock, d) {
				return
			}
		}
	}
}
