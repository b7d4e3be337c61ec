package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/logx"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// lineLog is a slog.Handler that keeps every record's level and message (and passes
// it on to the test log).
type lineLog struct {
	next  slog.Handler
	mu    sync.Mutex // guards lines
	lines []string   // "LEVEL msg"
}

func (l *lineLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *lineLog) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	return l.next.Handle(ctx, r)
}
func (l *lineLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrsOf{l, l.next.WithAttrs(as)}
}
func (l *lineLog) WithGroup(string) slog.Handler { return l }

// attrsOf records into l and writes through h.
type attrsOf struct {
	l *lineLog
	h slog.Handler
}

func (a *attrsOf) Enabled(context.Context, slog.Level) bool { return true }
func (a *attrsOf) Handle(ctx context.Context, r slog.Record) error {
	a.l.mu.Lock()
	a.l.lines = append(a.l.lines, r.Level.String()+" "+r.Message)
	a.l.mu.Unlock()
	return a.h.Handle(ctx, r)
}
func (a *attrsOf) WithAttrs(as []slog.Attr) slog.Handler { return &attrsOf{a.l, a.h.WithAttrs(as)} }
func (a *attrsOf) WithGroup(string) slog.Handler         { return a }

// count returns how many lines start with prefix ("ERROR store commit failed").
func (l *lineLog) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// TestFlappingDiskLogsOnce: a disk whose every other commit fails (full, then room
// for one commit, then full again) must not print a failure and a recovery per
// commit. The pipeline and the writer each log the failure once, and the recovery
// once, after commits have worked for the settle time (from the limiter's flush).
func TestFlappingDiskLogsOnce(t *testing.T) {
	const n = 200
	rec := &lineLog{}
	opts := storetest.Options(t)
	rec.next = opts.Logger.Handler()
	opts.Logger = slog.New(rec)
	db, err := store.Open(filepath.Join(t.TempDir(), "edgerelay.db"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	var commits, failures atomic.Int64
	var failing atomic.Bool
	failing.Store(true)
	db.SetCommitFault(func() error {
		if failing.Load() && commits.Add(1)%2 == 1 {
			failures.Add(1)
			return errors.New("no space left on device")
		}
		return nil
	})

	fake := clocktest.NewFake(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	lim := logx.New(logx.Options{Now: fake.Now})
	sink := newPeer()
	sink.setFail(func(*adapters.Event) error { return errors.New("503 service unavailable") })
	h := startWith(t, db, store.WriterOptions{Window: time.Millisecond, MaxBatch: 4, Limiter: lim}, 2*time.Millisecond,
		pipeline.Options{
			Sinks:   []pipeline.Sink{{Name: "a", Sink: sink, Retry: pipeline.Retry{Initial: time.Hour, Max: time.Hour}}},
			Log:     slog.New(rec),
			Limiter: lim,
		})
	// One event at a time, so that each gets commits of its own.
	for i := range n {
		e := &adapters.Event{ID: fmt.Sprintf("e%05d", i), Key: fmt.Sprint("k", i%8), Payload: []byte("{}")}
		done := make(chan adapters.Settlement, 1)
		require.NoError(t, h.p.Publish(context.Background(), "src", e, func(s adapters.Settlement) { done <- s }))
		select {
		case s := <-done:
			require.True(t, s.OK(), "event %d refused: %v", i, s)
		case <-time.After(20 * time.Second):
			t.Fatalf("event %d not settled", i)
		}
	}
	require.Greater(t, failures.Load(), int64(10), "the disk did not flap: the test tests nothing")
	t.Logf("%d of %d commits failed", failures.Load(), commits.Load())

	require.Equal(t, 1, rec.count("ERROR store commit failed"), "the pipeline logs the failure once")
	require.Equal(t, 1, rec.count("ERROR group commit failed"), "the writer logs the failure once")
	require.Zero(t, rec.count("INFO store commits recovered"), "no recovery before it settled")
	require.Zero(t, rec.count("INFO group commit works again"), "no recovery before it settled")

	// The disk is healthy from here on: one more commit, then the settle time.
	failing.Store(false)
	var last atomic.Bool
	require.NoError(t, h.p.Publish(context.Background(), "src", &adapters.Event{ID: "last", Payload: []byte("{}")},
		func(adapters.Settlement) { last.Store(true) }))
	waitFor(t, "the last event settled", last.Load)
	fake.Advance(logx.DefaultSettle)
	lim.Flush()
	require.Equal(t, 1, rec.count("INFO store commits recovered"))
	require.Equal(t, 1, rec.count("INFO group commit works again"))
	require.Equal(t, 1, rec.count("ERROR store commit failed"))
	require.Equal(t, 1, rec.count("ERROR group commit failed"))
	h.cancel()
}
