package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// downSink never connects: a disconnected sink.
type downSink struct{}

func (downSink) Connect(context.Context) error               { return errors.New("connection refused") }
func (downSink) Send(context.Context, *adapters.Event) error { return adapters.ErrNotConnected }
func (downSink) Close(context.Context) error                 { return nil }

// hangSink accepts a connection and then holds every Send until its context ends.
type hangSink struct{ entered chan struct{} }

func (hangSink) Connect(context.Context) error { return nil }
func (s hangSink) Send(ctx context.Context, _ *adapters.Event) error {
	s.entered <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}
func (hangSink) Close(context.Context) error { return nil }

// TestSettleOutcomes: the done callback reports what became of the event, for each
// outcome and for several sinks (the outcome of highest precedence wins).
func TestSettleOutcomes(t *testing.T) {
	permanent := func(*adapters.Event) error { return adapters.Permanent(errors.New("400 bad request")) }
	retryable := func(*adapters.Event) error { return errors.New("503 unavailable") }
	tests := []struct {
		name       string
		failA      func(*adapters.Event) error // sink a's failure; nil: delivers
		failB      func(*adapters.Event) error // sink b's, when the route names b too
		bothSinks  bool
		downA      bool // sink a never connects
		unbuffered bool // the source requires ack: delivered
		// nudge: a buffered event a healthy sink refuses permanently. The writer holds
		// it back for the deliver window; once the sink is seen failing, a second
		// publish wakes the writer, which then writes the dead letter.
		nudge bool
		// noWindow: write at once (the outcome is Stored whether the commit or the
		// failed send comes first).
		noWindow   bool
		topic      string
		unrouted   pipeline.Policy
		want       adapters.Outcome
		wantErr    error  // for Refused
		wantReason string // a part of the reason
	}{
		{name: "delivered", want: adapters.Delivered},
		{name: "stored while the sink fails", failA: retryable, noWindow: true, want: adapters.Stored},
		{name: "stored for a disconnected sink", downA: true, want: adapters.Stored},
		{name: "dead-lettered on a permanent refusal", failA: permanent, nudge: true, want: adapters.DeadLettered, wantReason: "400 bad request"},
		{name: "unrouted dead-lettered by policy", topic: "other/x", unrouted: pipeline.DeadLetter,
			want: adapters.DeadLettered, wantReason: "unrouted"},
		{name: "unrouted dropped by policy", topic: "other/x", unrouted: pipeline.Drop, want: adapters.Dropped, wantReason: "unrouted"},
		{name: "two sinks: stored beats delivered", bothSinks: true, failB: retryable, noWindow: true, want: adapters.Stored},
		{name: "two sinks: dead-lettered beats delivered", bothSinks: true, failB: permanent, nudge: true, want: adapters.DeadLettered},
		{name: "two sinks: delivered by both", bothSinks: true, want: adapters.Delivered},
		{name: "unbuffered delivered", unbuffered: true, want: adapters.Delivered},
		{name: "unbuffered refused on a retryable failure", unbuffered: true, failA: retryable,
			want: adapters.Refused, wantErr: pipeline.ErrNotDelivered},
		{name: "unbuffered refused by a disconnected sink", unbuffered: true, downA: true,
			want: adapters.Refused, wantErr: pipeline.ErrNotDelivered},
		{name: "unbuffered dead-lettered on a permanent refusal", unbuffered: true, failA: permanent,
			want: adapters.DeadLettered, wantReason: "400 bad request"},
		{name: "unbuffered, two sinks: refused beats delivered", unbuffered: true, bothSinks: true, failB: retryable,
			want: adapters.Refused, wantErr: pipeline.ErrNotDelivered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.MustOpen(t)
			a, b := newPeer(), newPeer()
			a.setFail(tc.failA)
			b.setFail(tc.failB)
			var sa adapters.Sink = a
			if tc.downA {
				sa = downSink{}
			}
			sinks := []pipeline.Sink{{Name: "a", Sink: sa}}
			if tc.bothSinks {
				sinks = append(sinks, pipeline.Sink{Name: "b", Sink: b})
			}
			opt := pipeline.Options{
				Sinks:  sinks,
				Router: pipeline.NewRouter([]pipeline.Route{{Name: "alarms", Topics: []string{"alarms/#"}, To: sinkNames(sinks)}}),
				// Healthy sinks get time to deliver before anything is written, so
				// that delivered and stored do not race.
				DeliverWindow: time.Hour,
				Unrouted:      tc.unrouted,
			}
			if tc.unbuffered {
				opt.Unbuffered = []string{"src"}
			}
			if tc.noWindow {
				opt.DeliverWindow = 0
			}
			h := start(t, db, time.Millisecond, opt)
			if !tc.downA {
				waitFor(t, "the sinks to connect", func() bool {
					for _, s := range h.p.Status() {
						if !s.Connected {
							return false
						}
					}
					return true
				})
			}
			topic := tc.topic
			if topic == "" {
				topic = "alarms/x"
			}
			type result struct {
				s   adapters.Settlement
				err error
			}
			res := make(chan result, 1)
			go func() { // exits once the event is settled
				s, err := adapters.PublishSettle(context.Background(), h.p.Publisher("src"),
					&adapters.Event{ID: "x", Topic: topic, Payload: []byte("{}")})
				res <- result{s, err}
			}()
			if tc.nudge {
				waitFor(t, "the sink to fail", func() bool {
					for _, s := range h.p.Status() {
						if s.Failing {
							return true
						}
					}
					return false
				})
				require.NoError(t, h.p.Publish(context.Background(), "src",
					&adapters.Event{ID: "nudge", Topic: topic, Payload: []byte("{}")}, func(adapters.Settlement) {}))
			}
			r := <-res
			s, err := r.s, r.err
			require.Equal(t, tc.want, s.Outcome, "settlement %v", s)
			if tc.want == adapters.Refused {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorIs(t, s.Err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, s.Err)
			require.Contains(t, s.Reason, tc.wantReason)
		})
	}
}

// TestShutdownRefusesUndelivered: at shutdown, an unbuffered event whose send is
// cancelled after the drain timeout, and one still queued behind it, are refused.
func TestShutdownRefusesUndelivered(t *testing.T) {
	db := storetest.MustOpen(t)
	sink := hangSink{entered: make(chan struct{}, 1)}
	h := start(t, db, time.Millisecond, pipeline.Options{
		Sinks:        []pipeline.Sink{{Name: "a", Sink: sink}},
		Unbuffered:   []string{"src"},
		DrainTimeout: time.Millisecond,
	})
	waitFor(t, "the sink to connect", func() bool { return h.p.Status()[0].Connected })
	got := make(chan adapters.Settlement, 2)
	for _, id := range []string{"in-flight", "queued"} {
		require.NoError(t, h.p.Publish(context.Background(), "src",
			&adapters.Event{ID: id, Key: "k", Payload: []byte("{}")}, func(s adapters.Settlement) { got <- s }))
	}
	<-sink.entered
	h.cancel()
	for range 2 {
		s := <-got
		require.Equal(t, adapters.Refused, s.Outcome, "settlement %v", s)
		require.ErrorIs(t, s.Err, pipeline.ErrNotDelivered)
	}
}

// TestSettlementMerge pins the precedence of outcomes across sinks.
func TestSettlementMerge(t *testing.T) {
	order := []adapters.Outcome{adapters.Dropped, adapters.Delivered, adapters.DeadLettered, adapters.Stored, adapters.Refused}
	for i, lo := range order {
		for _, hi := range order[i:] {
			a, b := adapters.Settled(lo, ""), adapters.Settled(hi, "")
			require.Equal(t, hi, a.Merge(b).Outcome, "%v with %v", lo, hi)
			require.Equal(t, hi, b.Merge(a).Outcome, "%v with %v", hi, lo)
		}
	}
	require.Equal(t, adapters.Delivered, adapters.Settlement{}.Merge(adapters.Settled(adapters.Delivered, "")).Outcome)
	require.False(t, adapters.Settlement{}.OK())
	require.False(t, adapters.Refuse(errors.New("x")).OK())
}
