package pipeline_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// stuckPeer holds every send until its context ends, counting them: a target that
// accepted the connection and never answers.
type stuckPeer struct{ sends, cancelled atomic.Int64 }

func (p *stuckPeer) Connect(context.Context) error { return nil }
func (p *stuckPeer) Close(context.Context) error   { return nil }
func (p *stuckPeer) Send(ctx context.Context, _ *adapters.Event) error {
	p.sends.Add(1)
	<-ctx.Done()
	p.cancelled.Add(1)
	return ctx.Err()
}

// TestReconfigureReplaceCancelsAStuckSend: a sink whose send hangs is replaced; the
// hung send is cancelled after the drain timeout, its event stays queued and the
// new adapter delivers it, with the events behind it, in order.
func TestReconfigureReplaceCancelsAStuckSend(t *testing.T) {
	stuck := &stuckPeer{}
	h := start(t, storetest.MustOpen(t), time.Millisecond, pipeline.Options{
		Sinks:        []pipeline.Sink{{Name: "hook", Sink: stuck, Retry: pipeline.Retry{Initial: time.Millisecond, Max: time.Millisecond}}},
		DrainTimeout: 50 * time.Millisecond,
	})
	done, errs := publish(t, h.p, 20, 1)
	require.Eventually(t, func() bool { return stuck.sends.Load() == 1 }, 5*time.Second, time.Millisecond)
	<-done // stored: the settlements came from the commit
	require.Zero(t, errs.Load())

	good := newPeer()
	old, err := h.p.Reconfigure(pipeline.Change{
		Replace: []pipeline.Sink{{Name: "hook", Sink: good}},
		Router:  pipeline.NewRouter([]pipeline.Route{{Name: "all", To: []string{"hook"}}}),
	})
	require.NoError(t, err)
	require.Equal(t, []adapters.Sink{stuck}, old)
	require.Equal(t, int64(1), stuck.cancelled.Load(), "the hung send was cancelled")
	require.Eventually(t, func() bool { return len(good.received()) == 20 }, 5*time.Second, time.Millisecond)
	for i, e := range good.received() {
		require.Equal(t, fmt.Sprintf("e%05d", i), e.ID, "one key: publish order")
	}
	st, _ := h.p.SinkStatus("hook")
	require.Zero(t, st.Depth)
	require.Equal(t, int64(1), stuck.sends.Load(), "the old adapter got nothing more")
}

// TestReconfigureAddRemove: a sink added while running gets what the store holds
// under its name; a sink removed keeps its queued events in the store, where the
// next one of that name finds them.
func TestReconfigureAddRemove(t *testing.T) {
	db := storetest.MustOpen(t)
	down := newPeer()
	down.setFail(func(*adapters.Event) error { return fmt.Errorf("target down") })
	other := newPeer()
	both := pipeline.NewRouter([]pipeline.Route{{Name: "all", To: []string{"other", "hook"}}})
	h := start(t, db, time.Millisecond, pipeline.Options{
		Sinks: []pipeline.Sink{
			{Name: "other", Sink: other},
			{Name: "hook", Sink: down, Retry: pipeline.Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond}},
		},
		Router: both,
	})
	done, errs := publish(t, h.p, 50, 5)
	<-done
	require.Zero(t, errs.Load())

	onlyOther := pipeline.NewRouter([]pipeline.Route{{Name: "all", To: []string{"other"}}})
	_, err := h.p.Reconfigure(pipeline.Change{Remove: []string{"hook"}, Router: onlyOther})
	require.NoError(t, err)
	_, ok := h.p.SinkStatus("hook")
	require.False(t, ok, "the removed sink is gone from the status")
	require.Eventually(t, func() bool {
		st, err := db.Stats()
		return err == nil && st.Sinks["hook"].Pending == 50
	}, 5*time.Second, time.Millisecond, "the removed sink's events stay in its outbox")
	done, errs = publish(t, h.p, 10, 0)
	<-done
	require.Zero(t, errs.Load())

	_, err = h.p.Reconfigure(pipeline.Change{Remove: []string{"hook"}, Router: onlyOther})
	require.Error(t, err, "removing it twice names the problem")

	back := newPeer()
	_, err = h.p.Reconfigure(pipeline.Change{Add: []pipeline.Sink{{Name: "hook", Sink: back}}, Router: both})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(back.received()) == 50 }, 5*time.Second, time.Millisecond,
		"the sink configured again delivers what waited for it")
	require.Eventually(t, func() bool { st, _ := h.p.SinkStatus("hook"); return st.Depth == 0 }, 5*time.Second, time.Millisecond)
	require.Len(t, other.received(), 60)
	h.cancel()
	_, err = h.p.Reconfigure(pipeline.Change{Router: both})
	require.ErrorIs(t, err, pipeline.ErrNotRunning)
}
