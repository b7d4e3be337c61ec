package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// upper is a transform: "skip" payloads are skipped, "bad" ones refused, the rest
// upper-cased with the key taken from the payload.
var upper = adapters.TransformFunc(func(e *adapters.Event) (*adapters.Event, error) {
	switch string(e.Payload) {
	case "skip":
		return nil, adapters.Skip("filtered")
	case "bad":
		return nil, errors.New("cannot convert")
	}
	out := *e
	out.Payload = bytes.ToUpper(e.Payload)
	out.Key = "k-" + string(e.Payload[:1])
	out.Kind = adapters.KindAlert
	return &out, nil
})

func TestTransformPerRoute(t *testing.T) {
	tests := []struct {
		name      string
		payload   string
		invalid   pipeline.Policy
		wantRaw   string // what sink "raw" gets ("" = nothing)
		wantMapd  string // what sink "mapped" gets
		wantDead  int    // dead letters in @rejected
		wantError bool
	}{
		{"converted for one route, raw for the other", "abc", "", "abc", "ABC", 0, false},
		{"skipped by the transform, raw still delivered", "skip", "", "skip", "", 0, false},
		{"refused: kept as a dead letter, raw still delivered", "bad", "", "bad", "", 1, false},
		{"refused and dropped by policy", "bad", pipeline.Drop, "bad", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.MustOpen(t)
			raw, mapped := newPeer(), newPeer()
			h := start(t, db, time.Millisecond, pipeline.Options{
				Sinks: []pipeline.Sink{{Name: "raw", Sink: raw}, {Name: "mapped", Sink: mapped}},
				Router: pipeline.NewRouter([]pipeline.Route{
					{Name: "r", To: []string{"raw"}},
					{Name: "m", To: []string{"mapped"}, Transform: upper},
				}),
				Invalid: tc.invalid,
			})
			ev := &adapters.Event{ID: "x", Topic: "t", Payload: []byte(tc.payload)}
			require.NoError(t, adapters.PublishWait(context.Background(), h.p.Publisher("src"), ev))
			waitFor(t, "raw delivery", func() bool { return len(raw.received()) == 1 })
			require.Equal(t, tc.wantRaw, string(raw.received()[0].Payload))
			if tc.wantMapd != "" {
				waitFor(t, "mapped delivery", func() bool { return len(mapped.received()) == 1 })
				got := mapped.received()[0]
				require.Equal(t, tc.wantMapd, string(got.Payload))
				require.Equal(t, "k-a", got.Key)
				require.Equal(t, "src", got.Source)
			}
			waitFor(t, "dead letters", func() bool {
				st, err := db.Stats()
				require.NoError(t, err)
				return st.Sinks[pipeline.RejectedSink].Dead == tc.wantDead
			})
			if tc.wantMapd == "" {
				require.Empty(t, mapped.received())
			}
		})
	}
}

func TestTransformOnlyRoute(t *testing.T) {
	tests := []struct {
		payload  string
		wantDead int
		want     adapters.Outcome
	}{
		{"skip", 0, adapters.Dropped},     // a deliberate skip is acknowledged and dropped
		{"bad", 1, adapters.DeadLettered}, // a refusal is kept (rejects.invalid defaults to dead_letter)
	}
	for _, tc := range tests {
		t.Run(tc.payload, func(t *testing.T) {
			db := storetest.MustOpen(t)
			sink := newPeer()
			h := start(t, db, time.Millisecond, pipeline.Options{
				Sinks:  []pipeline.Sink{{Name: "a", Sink: sink}},
				Router: pipeline.NewRouter([]pipeline.Route{{Name: "m", To: []string{"a"}, Transform: upper}}),
			})
			ev := &adapters.Event{ID: "x", Topic: "t", Payload: []byte(tc.payload)}
			s, err := adapters.PublishSettle(context.Background(), h.p.Publisher("src"), ev)
			require.NoError(t, err)
			require.Equal(t, tc.want, s.Outcome, "settlement %v", s)
			st, err := db.Stats()
			require.NoError(t, err)
			require.Equal(t, tc.wantDead, st.Sinks[pipeline.RejectedSink].Dead)
			require.Empty(t, sink.received())
		})
	}
}

// A transformed event survives a restart from the store as transformed.
func TestTransformedEventIsWhatIsStored(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := newPeer()
	sink.setFail(func(*adapters.Event) error { return errors.New("down") })
	opt := pipeline.Options{
		Sinks:  []pipeline.Sink{{Name: "a", Sink: sink, Retry: pipeline.Retry{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond}}},
		Router: pipeline.NewRouter([]pipeline.Route{{Name: "m", To: []string{"a"}, Transform: upper}}),
	}
	h := start(t, db, time.Millisecond, opt)
	require.NoError(t, adapters.PublishWait(context.Background(), h.p.Publisher("src"),
		&adapters.Event{ID: "x", Topic: "t", Payload: []byte("abc")}))
	h.cancel()
	require.Equal(t, 1, pending(t, db, "a"))

	sink.setFail(nil)
	start(t, db, time.Millisecond, opt)
	waitFor(t, "delivery after restart", func() bool { return len(sink.received()) == 1 })
	got := sink.received()[0]
	require.Equal(t, "ABC", string(got.Payload))
	require.Equal(t, "k-a", got.Key)
}

func TestUnbufferedSource(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := newPeer()
	h := start(t, db, time.Millisecond, pipeline.Options{
		Sinks:      []pipeline.Sink{{Name: "a", Sink: sink}},
		Unbuffered: []string{"live"},
	})
	waitFor(t, "the sink to connect", func() bool { return h.p.Status()[0].Connected })
	before := db.Counters().Commits
	pub := h.p.Publisher("live")

	// Delivered: acknowledged, nothing written.
	require.NoError(t, adapters.PublishWait(context.Background(), pub, &adapters.Event{ID: "ok", Payload: []byte("{}")}))
	require.Len(t, sink.received(), 1)
	require.Equal(t, before, db.Counters().Commits, "an unbuffered event was written")

	// A retryable failure fails the publish at once and stores nothing.
	sink.setFail(func(*adapters.Event) error { return errors.New("503") })
	err := adapters.PublishWait(context.Background(), pub, &adapters.Event{ID: "retry", Payload: []byte("{}")})
	require.ErrorIs(t, err, pipeline.ErrNotDelivered)
	require.Zero(t, pending(t, db, "a"))

	// Upstream redelivers after the sink recovers: delivered once more.
	sink.setFail(nil)
	require.NoError(t, adapters.PublishWait(context.Background(), pub, &adapters.Event{ID: "retry", Payload: []byte("{}")}))
	require.Len(t, sink.received(), 2)

	// A permanent failure is dead-lettered and acknowledged.
	sink.setFail(func(*adapters.Event) error { return adapters.Permanent(errors.New("400 bad request")) })
	require.NoError(t, adapters.PublishWait(context.Background(), pub, &adapters.Event{ID: "bad", Payload: []byte("{}")}))
	st, err := db.Stats()
	require.NoError(t, err)
	require.Equal(t, 1, st.Sinks["a"].Dead)
	require.Zero(t, st.Sinks["a"].Pending)

	// Another source on the same sink stays buffered.
	sink.setFail(func(*adapters.Event) error { return errors.New("503") })
	require.NoError(t, adapters.PublishWait(context.Background(), h.p.Publisher("buffered"), &adapters.Event{ID: "b", Payload: []byte("{}")}))
	require.Equal(t, 1, pending(t, db, "a"))
	// Now the lane is behind: an unbuffered event would overtake the stored one.
	waitFor(t, "lane in backlog or failing", func() bool {
		err := adapters.PublishWait(context.Background(), pub, &adapters.Event{ID: "late", Payload: []byte("{}")})
		return errors.Is(err, pipeline.ErrNotDelivered)
	})
}
