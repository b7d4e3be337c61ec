package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// hangups keeps SIGHUP from killing a daemon command: Go's default for SIGHUP is to
// exit at once, without the drain SIGTERM gets. The daemon commands (run, daemon)
// catch it as the first thing they do; until configuration reload exists, each
// SIGHUP is logged and ignored. The one-shot commands keep the default.
type hangups struct {
	ch   chan os.Signal
	done chan struct{}
}

func catchHangups() *hangups {
	h := &hangups{ch: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(h.ch, syscall.SIGHUP)
	return h
}

// logTo logs each SIGHUP from now until stop, one received before included.
func (h *hangups) logTo(log *slog.Logger) {
	go func() { // exits on stop
		for {
			select {
			case <-h.ch:
				log.Warn("SIGHUP received: configuration reload is not supported yet; ignoring it (restart edgerelay to apply a changed configuration)")
			case <-h.done:
				return
			}
		}
	}()
}

// stop restores SIGHUP's default and ends logTo.
func (h *hangups) stop() {
	signal.Stop(h.ch)
	close(h.done)
}
