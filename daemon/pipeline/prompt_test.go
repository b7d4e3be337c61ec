package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// gatedSink is connected and healthy but holds every Send until gate is closed, like
// an upstream that takes its time to answer.
type gatedSink struct {
	*peer
	gate chan struct{}
}

func (g gatedSink) Send(ctx context.Context, e *adapters.Event) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.peer.Send(ctx, e)
}

// TestPromptSourceIsNotHeldBack: an event of a prompt source (the alerta receiver,
// whose sender waits on the answer) is stored within the commit window although its
// healthy sink could deliver it within a long deliver window: the source is told
// Stored while the sink is still sending, then the sink delivers it from the store.
// An event of another source, published beside it, waits for the delivery instead.
func TestPromptSourceIsNotHeldBack(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := gatedSink{newPeer(), make(chan struct{})}
	h := start(t, db, 2*time.Millisecond, pipeline.Options{
		Sinks:         []pipeline.Sink{{Name: "a", Sink: sink, MaxInFlight: 4}},
		DeliverWindow: time.Hour,
		Prompt:        []string{"alerta"},
	})
	waitFor(t, "the sink to connect", func() bool { return h.p.Status()[0].Connected })

	prompt := make(chan adapters.Settlement, 1)
	require.NoError(t, h.p.Publish(context.Background(), "alerta",
		&adapters.Event{ID: "p1", Kind: adapters.KindAlert, Key: "a1", Payload: []byte(`{}`)},
		func(s adapters.Settlement) { prompt <- s }))
	held := make(chan adapters.Settlement, 1)
	require.NoError(t, h.p.Publish(context.Background(), "mqtt",
		&adapters.Event{ID: "h1", Kind: adapters.KindAlert, Key: "b1", Payload: []byte(`{}`)},
		func(s adapters.Settlement) { held <- s }))

	s := <-prompt // the sink has not delivered anything: only storing can settle it
	require.Equal(t, adapters.Stored, s.Outcome, "the prompt source's event must be stored, not held for the delivery")
	require.Empty(t, sink.received())
	select {
	case s := <-held:
		t.Fatalf("the other source's event settled %v before its delivery: it should be held back", s.Outcome)
	default:
	}

	close(sink.gate)
	require.Equal(t, adapters.Delivered, (<-held).Outcome, "the other source's event is delivered without a write")
	waitFor(t, "both deliveries", func() bool { return len(sink.received()) == 2 })
}
