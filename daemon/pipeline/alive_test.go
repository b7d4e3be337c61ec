package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/logx"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// stuckSink never returns from Send until released: a hung peer.
type stuckSink struct{ release chan struct{} }

func (s stuckSink) Connect(context.Context) error { return nil }
func (s stuckSink) Close(context.Context) error   { return nil }
func (s stuckSink) Send(ctx context.Context, _ *adapters.Event) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestAliveReportsStuckSink: the watchdog probe fails when every worker of a sink is
// stuck in Send while events wait, and recovers when the send returns.
func TestAliveReportsStuckSink(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := stuckSink{release: make(chan struct{})}
	clk := clocktest.NewFake(time.Now())
	h := start(t, db, time.Millisecond, pipeline.Options{Sinks: []pipeline.Sink{{Name: "hung", Sink: sink, MaxInFlight: 1}}, Clock: clk})
	done, _ := publish(t, h.p, 3, 0)
	waitFor(t, "a send in flight", func() bool { return h.p.Status()[0].InFlight == 1 })
	require.NoError(t, h.p.Alive(time.Hour), "not stuck for long yet")
	clk.Advance(20 * time.Millisecond)
	err := h.p.Alive(10 * time.Millisecond)
	require.Error(t, err)
	require.Contains(t, err.Error(), "sink hung")
	close(sink.release)
	wait(t, done, "done callbacks")
	waitFor(t, "alive again", func() bool { return h.p.Alive(10*time.Millisecond) == nil })
}

// TestBadInputDoesNotFloodTheLog: a storm of unroutable events is counted, not logged
// line by line.
func TestBadInputDoesNotFloodTheLog(t *testing.T) {
	db := storetest.MustOpen(t)
	fake := clocktest.NewFake(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	lim := logx.New(logx.Options{Now: fake.Now})
	var logs adaptertest.Buffer
	rejected := map[string]int{}
	var mu sync.Mutex
	bus := events.New(nil)
	bus.Handle("count", func(e events.Event) {
		mu.Lock()
		rejected[e.Reason]++
		mu.Unlock()
	}, events.Rejected)
	h := start(t, db, time.Millisecond, pipeline.Options{
		Sinks:   []pipeline.Sink{{Name: "a", Sink: newPeer()}},
		Router:  pipeline.NewRouter([]pipeline.Route{{Name: "alarms", Topics: []string{"alarms/#"}, To: []string{"a"}}}),
		Log:     slog.New(slog.NewTextHandler(&logs, nil)),
		Events:  bus,
		Limiter: lim,
	})
	for i := 0; i < 500; i++ {
		ev := &adapters.Event{ID: fmt.Sprintf("x%d", i), Topic: "noise/x", Payload: []byte("{}")}
		require.NoError(t, adapters.PublishWait(context.Background(), h.p.Publisher("src"), ev))
	}
	mu.Lock()
	require.Equal(t, 500, rejected["unrouted"])
	mu.Unlock()
	lines := strings.Count(logs.String(), "event rejected")
	require.GreaterOrEqual(t, lines, 1)
	require.LessOrEqual(t, lines, logx.DefaultBurst, "rejections are rate-limited in the log: a burst, then one a minute")
	require.Equal(t, 500-lines, lim.Pending())
	fake.Advance(logx.DefaultInterval)
	lim.Flush()
	require.Contains(t, logs.String(), fmt.Sprintf("event rejected (suppressed %d similar in the last 60s)", 500-lines),
		"the flush accounts for the rest")
	require.Zero(t, lim.Pending())
}
