package sdnotify

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bound caps every wait in these tests; none of them asserts how fast anything is.
const bound = 5 * time.Second

// fakeSystemd is the receiving end of NOTIFY_SOCKET.
type fakeSystemd struct {
	conn *net.UnixConn
	path string
}

// listen creates a unixgram socket in t.TempDir(), points NOTIFY_SOCKET at it and clears
// the watchdog variables.
func listen(t *testing.T) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	return &fakeSystemd{conn: conn, path: path}
}

// next returns the next datagram, or false if none arrives before the deadline.
func (f *fakeSystemd) next(t *testing.T, wait time.Duration) (string, bool) {
	t.Helper()
	require.NoError(t, f.conn.SetReadDeadline(time.Now().Add(wait)))
	buf := make([]byte, 4096)
	n, _, err := f.conn.ReadFromUnix(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "", false
	}
	require.NoError(t, err)
	return string(buf[:n]), true
}

// pending returns every datagram already queued on the socket.
func (f *fakeSystemd) pending(t *testing.T) []string {
	t.Helper()
	var out []string
	for range 10000 {
		m, ok := f.next(t, time.Millisecond)
		if !ok {
			return out
		}
		out = append(out, m)
	}
	t.Fatal("socket never drained")
	return nil
}

func testLogger() (*slog.Logger, *adaptertest.Buffer) {
	var b adaptertest.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func TestReadyStatusStopping(t *testing.T) {
	sd := listen(t)
	log, _ := testLogger()
	n := New(log)
	require.True(t, n.Enabled())

	require.NoError(t, n.Ready())
	require.NoError(t, n.Status("starting"))
	require.NoError(t, n.Status("starting")) // identical: not resent
	require.NoError(t, n.Status("queue 3 pending;\nilert ok"))
	require.NoError(t, n.Status("queue 3 pending; ilert ok")) // same after line-break folding
	require.NoError(t, n.Status("starting"))                  // differs from the last one: sent
	require.NoError(t, n.Stopping())

	var got []string
	for range 5 {
		m, ok := sd.next(t, bound)
		require.True(t, ok, "got only %q", got)
		got = append(got, m)
	}
	require.Equal(t, []string{
		"READY=1",
		"STATUS=starting",
		"STATUS=queue 3 pending; ilert ok",
		"STATUS=starting",
		"STOPPING=1",
	}, got)
	require.Empty(t, sd.pending(t))
}

func TestFailedStatusIsRetried(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notify.sock")
	t.Setenv("NOTIFY_SOCKET", path) // nobody listens yet
	t.Setenv("WATCHDOG_USEC", "")
	log, _ := testLogger()
	n := New(log)

	err := n.Ready()
	require.ErrorContains(t, err, "notify systemd READY")
	require.ErrorContains(t, n.Status("up"), "notify systemd STATUS")

	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	sd := &fakeSystemd{conn: conn, path: path}
	require.NoError(t, n.Status("up")) // the failed one was not remembered as sent
	m, ok := sd.next(t, bound)
	require.True(t, ok)
	require.Equal(t, "STATUS=up", m)
}

func TestNoSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "100000")
	log, _ := testLogger()
	n := New(log)
	require.False(t, n.Enabled())
	require.NoError(t, n.Ready())
	require.NoError(t, n.Status("x"))
	require.NoError(t, n.Stopping())
	require.Zero(t, n.WatchdogInterval())
	called := false
	require.NoError(t, n.RunWatchdog(context.Background(), func() error { called = true; return nil }))
	require.False(t, called)
}

func TestWatchdogInterval(t *testing.T) {
	tests := []struct {
		name, usec, pid string
		want            time.Duration
		wantLog         string
	}{
		{name: "unset", want: 0},
		{name: "set", usec: "30000000", want: 30 * time.Second},
		{name: "for this pid", usec: "100000", pid: strconv.Itoa(os.Getpid()), want: 100 * time.Millisecond},
		{name: "for another pid", usec: "100000", pid: strconv.Itoa(os.Getpid() + 1), want: 0},
		{name: "garbage", usec: "soon", want: 0, wantLog: "systemd watchdog disabled"},
		{name: "negative", usec: "-5", want: 0, wantLog: "systemd watchdog disabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			listen(t)
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			log, buf := testLogger()
			n := New(log)
			require.Equal(t, tc.want, n.WatchdogInterval())
			if tc.wantLog != "" {
				require.Contains(t, buf.String(), tc.wantLog)
			}
			if tc.want == 0 {
				require.NoError(t, n.RunWatchdog(context.Background(), func() error {
					t.Error("alive called without a watchdog")
					return nil
				}))
			}
		})
	}
}

// runWatchdog starts RunWatchdog and returns a function that cancels it and checks
// that it returned nil.
func runWatchdog(t *testing.T, n *Notifier, alive func() error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.RunWatchdog(ctx, alive) }() // exits when ctx is cancelled
	return func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(bound):
			t.Fatal("RunWatchdog did not return after cancel")
		}
	}
}

func TestWatchdogPingsWhileAlive(t *testing.T) {
	sd := listen(t)
	t.Setenv("WATCHDOG_USEC", "100000")
	log, _ := testLogger()
	n := New(log)
	require.Equal(t, 100*time.Millisecond, n.WatchdogInterval())

	stop := runWatchdog(t, n, func() error { return nil })
	for i := range 3 {
		m, ok := sd.next(t, bound)
		require.True(t, ok, "ping %d never came", i)
		require.Equal(t, "WATCHDOG=1", m)
	}
	stop()
}

func TestWatchdogWithheldWhileNotAlive(t *testing.T) {
	sd := listen(t)
	t.Setenv("WATCHDOG_USEC", "100000")
	log, logs := testLogger()
	n := New(log)

	var healthy atomic.Bool
	var calls atomic.Int32
	stop := runWatchdog(t, n, func() error {
		calls.Add(1)
		if healthy.Load() {
			return nil
		}
		return errors.New("router stalled")
	})

	// Wait for several failing probes. A ping would be sent right after a probe and
	// before the next one, so once the fifth probe ran, any ping is already queued.
	deadline := time.Now().Add(bound)
	for calls.Load() < 5 {
		require.True(t, time.Now().Before(deadline), "alive was not probed repeatedly")
		time.Sleep(10 * time.Millisecond)
	}
	require.Empty(t, sd.pending(t), "no WATCHDOG=1 while not alive")

	healthy.Store(true)
	m, ok := sd.next(t, bound)
	require.True(t, ok, "pings did not resume")
	require.Equal(t, "WATCHDOG=1", m)
	stop()

	out := logs.String()
	require.Equal(t, 1, strings.Count(out, "systemd watchdog ping withheld"), out)
	require.Contains(t, out, "not alive: router stalled")
	require.Equal(t, 1, strings.Count(out, "systemd watchdog pings resumed"), out)
}
