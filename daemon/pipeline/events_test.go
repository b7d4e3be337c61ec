package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// flakySink refuses its first Connect, answers by event id (see TestPipelineEvents)
// and loses its connection once on "drop".
type flakySink struct {
	connects atomic.Int32
	tries    sync.Map // event id -> *atomic.Int32
}

func (s *flakySink) Connect(context.Context) error {
	if s.connects.Add(1) == 1 {
		return errors.New("dial tcp 127.0.0.1:9: connection refused")
	}
	return nil
}

func (s *flakySink) Close(context.Context) error { return nil }

func (s *flakySink) Send(_ context.Context, e *adapters.Event) error {
	n, _ := s.tries.LoadOrStore(e.ID, new(atomic.Int32))
	try := n.(*atomic.Int32).Add(1)
	switch {
	case e.ID == "perm":
		return adapters.Permanent(errors.New("HTTP 400"))
	case e.ID == "again" && try == 1:
		return errors.New("HTTP 503")
	case e.ID == "drop" && try == 1:
		return fmt.Errorf("connection reset: %w", adapters.ErrNotConnected)
	}
	return nil
}

// TestPipelineEvents: the pipeline publishes what happens to events and to its sinks,
// never while it holds a lane's lock.
func TestPipelineEvents(t *testing.T) {
	bus := events.New(nil)
	var mu sync.Mutex
	var got []events.Event
	var p atomic.Pointer[pipeline.Pipeline]
	bus.Handle("test", func(e events.Event) {
		if e.Sink != "" && pipeline.LaneHeld(p.Load(), e.Sink) {
			t.Errorf("%s published while the lane of %s is locked", e.Kind, e.Sink)
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	})
	db := storetest.MustOpen(t)
	h := start(t, db, time.Millisecond, pipeline.Options{
		Sinks: []pipeline.Sink{{Name: "a", Sink: &flakySink{}, Retry: pipeline.Retry{Initial: time.Millisecond, Max: time.Millisecond}}},
		Router: pipeline.NewRouter([]pipeline.Route{
			{Name: "alarms", Topics: []string{"alarms/#"}, To: []string{"a"}},
		}),
		Events: bus,
	})
	p.Store(h.p)
	for _, id := range []string{"ok", "again", "perm", "drop"} {
		ev := &adapters.Event{ID: id, Key: "k-" + id, Topic: "alarms/x", Payload: []byte("{}")}
		require.NoError(t, adapters.PublishWait(context.Background(), h.p.Publisher("plant"), ev))
	}
	require.NoError(t, adapters.PublishWait(context.Background(), h.p.Publisher("plant"),
		&adapters.Event{ID: "noise", Topic: "noise/x", Payload: []byte("{}")}))
	// Wait until every event has its final fact.
	final := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, e := range got {
			if e.Kind == events.Delivered || e.Kind == events.DeadLettered {
				n++
			}
		}
		return n
	}
	waitFor(t, "every event delivered or dead-lettered", func() bool { return final() == 4 })
	h.cancel()

	mu.Lock()
	defer mu.Unlock()
	byID := map[string][]string{}
	var sinkFacts []string
	for i, e := range got {
		require.Equal(t, uint64(i+1), e.Seq, "one handler sees every event in order")
		switch e.Kind {
		case events.SinkConnected, events.SinkDisconnected:
			sinkFacts = append(sinkFacts, e.Kind.String()+" "+e.Reason)
			continue
		}
		require.Equal(t, "plant", e.Source)
		s := e.Kind.String()
		if e.Kind != events.Received && e.Kind != events.Rejected {
			require.Equal(t, "a", e.Sink)
			require.Equal(t, "k-"+e.EventID, e.Key)
		}
		if e.Reason != "" {
			s += " " + e.Reason
		}
		byID[e.EventID] = append(byID[e.EventID], s)
	}
	require.Equal(t, map[string][]string{
		"ok":    {"received", "delivered"},
		"again": {"received", "retried HTTP 503", "delivered"},
		"perm":  {"received", "dead_lettered rejected: HTTP 400"},
		"drop":  {"received", "retried connection reset: not connected", "delivered"},
		"noise": {"received", "rejected unrouted"},
	}, byID)
	require.Len(t, sinkFacts, 4)
	require.Equal(t, "sink_disconnected dial tcp 127.0.0.1:9: connection refused", sinkFacts[0], "the first connect failed")
	require.Equal(t, "sink_connected ", sinkFacts[1])
	require.True(t, strings.HasPrefix(sinkFacts[2], "sink_disconnected connection reset"), sinkFacts[2])
	require.Equal(t, "sink_connected ", sinkFacts[3])
}
