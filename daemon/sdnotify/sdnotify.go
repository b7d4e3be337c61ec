// Package sdnotify speaks the systemd notify protocol for edgerelay: READY=1 once the
// store is open and the sources are subscribed, STATUS= lines for `systemctl status`,
// STOPPING=1 at shutdown, and a watchdog that pings only while the daemon is alive.
//
// Everything is a no-op when $NOTIFY_SOCKET is unset (procd on OpenWrt, a shell, tests),
// so the daemon calls the Notifier unconditionally. The protocol itself is
// github.com/coreos/go-systemd/v22/daemon; the environment is left in place so that
// every call, not only the first, can reach systemd.
package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends state changes to the service manager. It is safe for concurrent use.
type Notifier struct {
	log      *slog.Logger
	enabled  bool          // NOTIFY_SOCKET was set when New ran
	interval time.Duration // the watchdog timeout systemd asked for, or 0

	mu         sync.Mutex // guards lastStatus and serialises Status sends
	lastStatus string     // the last STATUS text systemd accepted
}

// New reads $NOTIFY_SOCKET and $WATCHDOG_USEC (and $WATCHDOG_PID) once and returns a
// Notifier; without $NOTIFY_SOCKET every method does nothing and returns nil. An
// unusable $WATCHDOG_USEC is logged and disables the watchdog. A nil log discards.
func New(log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{log: log, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
	if !n.enabled {
		return n
	}
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog disabled: bad environment", "err", err)
		d = 0
	}
	n.interval = d
	return n
}

// Enabled reports whether a service manager is listening ($NOTIFY_SOCKET was set).
func (n *Notifier) Enabled() bool { return n.enabled }

// Ready tells systemd that startup has finished (READY=1). The daemon sends it once the
// store is open and the sources are subscribed.
func (n *Notifier) Ready() error { return n.send(daemon.SdNotifyReady) }

// Stopping tells systemd that shutdown has begun (STOPPING=1).
func (n *Notifier) Stopping() error { return n.send(daemon.SdNotifyStopping) }

// Status sets the one-line text `systemctl status` shows (STATUS=…). Line breaks are
// replaced by spaces. A text identical to the last one sent is not sent again, so the
// caller may call Status on every health change.
func (n *Notifier) Status(s string) error {
	if !n.enabled {
		return nil
	}
	s = lineBreaks.Replace(s)
	n.mu.Lock()
	defer n.mu.Unlock()
	if s == n.lastStatus {
		return nil
	}
	if err := n.send("STATUS=" + s); err != nil {
		return err
	}
	n.lastStatus = s
	return nil
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// WatchdogInterval returns the watchdog timeout systemd set (WatchdogSec=), or 0 when
// there is none or no service manager is listening.
func (n *Notifier) WatchdogInterval() time.Duration { return n.interval }

// RunWatchdog pings the systemd watchdog (WATCHDOG=1) every WatchdogInterval/2, but only
// when alive returns nil. When alive fails it sends nothing and logs the reason (once
// per distinct reason), so that systemd restarts a daemon that is running but hung. It
// returns nil when ctx is done, and at once when WatchdogInterval is 0.
//
// alive is called once per tick from RunWatchdog's goroutine; it must be cheap. If it
// blocks, no ping is sent (which is the point) and RunWatchdog returns only after it
// does.
func (n *Notifier) RunWatchdog(ctx context.Context, alive func() error) error {
	if n.interval <= 0 {
		return nil
	}
	period := n.interval / 2
	n.log.Info("systemd watchdog enabled", "timeout_seconds", n.interval.Seconds(), "ping_seconds", period.Seconds())
	tick := time.NewTicker(period)
	defer tick.Stop()
	var lastReason string // the failure last logged, "" while pings are flowing
	for {
		reason := ""
		if err := alive(); err != nil {
			reason = "not alive: " + err.Error()
		} else if err := n.send(daemon.SdNotifyWatchdog); err != nil {
			reason = err.Error()
		}
		switch {
		case reason != "" && reason != lastReason:
			n.log.Error("systemd watchdog ping withheld", "reason", reason)
		case reason == "" && lastReason != "":
			n.log.Info("systemd watchdog pings resumed")
		}
		lastReason = reason
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// send writes one notification, doing nothing when no service manager listens.
func (n *Notifier) send(state string) error {
	if !n.enabled {
		return nil
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		op, _, _ := strings.Cut(state, "=")
		return fmt.Errorf("notify systemd %s: %w", op, err)
	}
	return nil
}
