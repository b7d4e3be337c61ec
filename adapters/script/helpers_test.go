//go:build linux

package script

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/logx"
)

// Every test ends with no goroutine of the sink left: no reader, writer or waiter.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writeScript writes body as an executable /bin/sh script in a temporary directory
// and returns its path.
func writeScript(t testing.TB, body string) string {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		adaptertest.Missing(t, "the script tests need /bin/sh: %v", err)
	}
	p := filepath.Join(t.TempDir(), "hook.sh")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755))
	return p
}

func testDeps(log *slog.Logger) adapters.Deps {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return adapters.Deps{Name: "hook", Log: log, Now: time.Now, Version: "test"}
}

// connected builds a sink from cfg and connects it; Close runs at cleanup.
func connected(t testing.TB, cfg Config, log *slog.Logger) *Sink {
	t.Helper()
	s, err := New(cfg, testDeps(log))
	require.NoError(t, err)
	require.NoError(t, s.Connect(context.Background()))
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func event(payload string, attrs map[string]string) *adapters.Event {
	return &adapters.Event{
		ID: adapters.NewID(), Kind: adapters.KindAlert, Key: "42", Source: "edge", Topic: "alert-created",
		Payload: []byte(payload), Attrs: attrs, Received: time.Now(),
	}
}

// running reports whether process pid exists and is not a zombie (a zombie whose
// parent is not this process is init's to reap, not a leak of the sink's).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	state := s[i+2]
	return state != 'Z' && state != 'X'
}

// exists reports whether pid exists at all, zombie or not.
func exists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// readPIDs reads the whitespace-separated process ids the script wrote to path,
// waiting until it has at least n of them.
func readPIDs(t *testing.T, path string, n int) []int {
	t.Helper()
	var pids []int
	waitFor(t, "the script's process ids", func() bool {
		b, _ := os.ReadFile(path)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			p, err := strconv.Atoi(f)
			require.NoError(t, err)
			pids = append(pids, p)
		}
		return len(pids) >= n
	})
	return pids
}

// waitFor polls cond; the bound only decides when a broken sink fails the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killAll kills the processes at cleanup, for a test whose script leaves some behind
// on purpose (outside its process group).
func killAll(t *testing.T, pids []int) {
	t.Cleanup(func() {
		for _, p := range pids {
			if pr, err := os.FindProcess(p); err == nil && running(p) {
				_ = pr.Kill()
			}
		}
	})
}

// slogOf returns a logger writing to h.
func slogOf(h slog.Handler) *slog.Logger { return slog.New(h) }

// logxLimiter is a limiter with a small burst, for the rate-limit test.
func logxLimiter() *logx.Limiter { return logx.New(logx.Options{Burst: 3, Interval: time.Hour}) }
