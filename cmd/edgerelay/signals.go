package main

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgerelay/edgerelay/daemon"
)

// hangups keeps SIGHUP from killing a daemon command: Go's default for SIGHUP is to
// exit at once, without the drain SIGTERM gets. The daemon commands (run, daemon)
// catch it as the first thing they do. `run` reloads its configuration file on each
// one (reloadOn); `daemon`, whose configuration is its command line, logs and ignores
// it (logTo). The one-shot commands keep the default.
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
				log.Warn("SIGHUP received: this daemon's configuration is its ilagent command line, there is no file to reload; ignoring it (restart edgerelay to change it)")
			case <-h.done:
				return
			}
		}
	}()
}

// reloadOn reloads d's configuration on each SIGHUP from now until stop, one received
// before included. The daemon logs and reports each reload's outcome itself; one
// that comes while it is still starting or already stopping is only logged.
func (h *hangups) reloadOn(d *daemon.Daemon, log *slog.Logger) {
	go func() { // exits on stop
		for {
			select {
			case <-h.ch:
				log.Info("SIGHUP received: reloading the configuration")
				if err := d.Reload(); errors.Is(err, daemon.ErrNotRunning) {
					log.Warn("SIGHUP came while the daemon starts or stops: nothing was reloaded; send it again once it runs")
				}
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
