package ilert

import (
	"context"

	"github.com/edgerelay/edgerelay/adapters"
)

// selfHeartbeat pings self_heartbeat_key at once and then every
// self_heartbeat_interval until Close. Pings go straight to ilert: a heartbeat
// replayed from the store after an outage would claim liveness for a time that has
// passed. A failure is logged (the first one, then every tenth) and the next tick
// tries again; a recovery is logged once.
func (s *Sink) selfHeartbeat() {
	defer close(s.hbDone)
	t := s.clk.NewTicker(s.cfg.SelfHeartbeatInterval)
	defer t.Stop()
	failures := 0
	for {
		ctx, cancel := context.WithTimeout(s.hbCtx, min(s.cfg.Timeout, s.cfg.SelfHeartbeatInterval))
		err := s.Send(ctx, &adapters.Event{
			ID: adapters.NewID(), Kind: adapters.KindHeartbeat, Key: s.cfg.SelfHeartbeatKey.Reveal(), Received: s.now(),
		})
		cancel()
		switch {
		case err == nil && failures > 0:
			s.log.Info("self-heartbeat recovered", "failed_pings", failures)
			failures = 0
		case err == nil:
			s.log.Debug("self-heartbeat sent")
		default:
			failures++
			if failures%10 == 1 {
				s.log.Warn("self-heartbeat failed; trying again at the next interval",
					"err", err, "failed_pings", failures, "interval", s.cfg.SelfHeartbeatInterval.String())
			}
		}
		select {
		case <-s.hbCtx.Done():
			return
		case <-t.C():
		}
	}
}

// stopSelfHeartbeat ends the self-heartbeat loop, if it runs, and waits for it. No
// loop starts after it.
func (s *Sink) stopSelfHeartbeat() {
	s.hbStop()             // Close cancels a ping in flight too
	s.hbOnce.Do(func() {}) // a Connect racing with Close starts nothing now
	if s.hbStarted.Load() {
		<-s.hbDone
	}
}
