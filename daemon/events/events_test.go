package events

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)

// fixedClock returns t0, t0+1s, t0+2s, … on successive calls.
func fixedClock() func() time.Time {
	n := 0
	return func() time.Time { n++; return t0.Add(time.Duration(n-1) * time.Second) }
}

// drain reads what is buffered in s without waiting.
func drain(s *Subscription) []Event {
	var out []Event
	for {
		select {
		case e, ok := <-s.C():
			if !ok {
				return out
			}
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestFanOut(t *testing.T) {
	long := strings.Repeat("é", MaxReason) // 2 bytes each: cut at a character boundary
	tests := []struct {
		name    string
		kinds   []Kind // the subscriber's
		publish []Event
		want    []Event // Seq and Time are checked by the position in publish
		wantSeq []uint64
	}{
		{
			name:    "every kind by default",
			publish: []Event{{Kind: Started, Version: "1.0"}, {Kind: Delivered, Sink: "hook", EventID: "e1", Key: "k"}},
			want:    []Event{{Kind: Started, Version: "1.0"}, {Kind: Delivered, Sink: "hook", EventID: "e1", Key: "k"}},
			wantSeq: []uint64{1, 2},
		},
		{
			name:  "only the kinds asked for; Seq counts only events someone took",
			kinds: []Kind{ReadinessChanged, DeadLettered},
			publish: []Event{
				{Kind: Delivered, Sink: "hook"},
				{Kind: ReadinessChanged, Component: "sink:hook", Condition: "delivering", From: StateOK, To: StateDegraded, NodeFrom: NodeOK, NodeTo: NodeDegraded},
				{Kind: Received, Source: "plant"},
				{Kind: DeadLettered, Sink: "hook", EventID: "e2", Reason: "rejected: HTTP 400"},
			},
			want: []Event{
				{Kind: ReadinessChanged, Component: "sink:hook", Condition: "delivering", From: StateOK, To: StateDegraded, NodeFrom: NodeOK, NodeTo: NodeDegraded},
				{Kind: DeadLettered, Sink: "hook", EventID: "e2", Reason: "rejected: HTTP 400"},
			},
			wantSeq: []uint64{1, 2},
		},
		{
			name:    "a long reason is cut to MaxReason bytes at a character boundary",
			publish: []Event{{Kind: StoreQuarantined, Path: "/q/x.corrupt", Reason: long}},
			want:    []Event{{Kind: StoreQuarantined, Path: "/q/x.corrupt", Reason: long[:MaxReason]}},
			wantSeq: []uint64{1},
		},
		{
			name:    "an odd cut backs up to the start of the character",
			publish: []Event{{Kind: SinkDisconnected, Sink: "hook", Reason: "x" + long}},
			want:    []Event{{Kind: SinkDisconnected, Sink: "hook", Reason: "x" + long[:MaxReason-2]}},
			wantSeq: []uint64{1},
		},
		{
			name:    "Seq and Time given by the publisher are replaced",
			publish: []Event{{Kind: SourceRoleChanged, Seq: 99, Time: t0.Add(time.Hour), Source: "edge", From: "standby", To: "active"}},
			want:    []Event{{Kind: SourceRoleChanged, Source: "edge", From: "standby", To: "active"}},
			wantSeq: []uint64{1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New(fixedClock())
			s := b.Subscribe("test", 16, tc.kinds...)
			defer s.Close()
			for _, e := range tc.publish {
				b.Publish(e)
			}
			got := drain(s)
			require.Len(t, got, len(tc.want))
			for i := range got {
				require.Equal(t, tc.wantSeq[i], got[i].Seq)
				require.Equal(t, t0.Add(time.Duration(tc.wantSeq[i]-1)*time.Second), got[i].Time)
				got[i].Seq, got[i].Time = 0, time.Time{}
			}
			require.Equal(t, tc.want, got)
			require.LessOrEqual(t, len(got[len(got)-1].Reason), MaxReason)
		})
	}
}

func TestKindNames(t *testing.T) {
	for k := Kind(1); k < numKinds; k++ {
		require.NotEqual(t, "unknown", k.String(), "kind %d has no name", k)
	}
	require.Equal(t, "unknown", Kind(0).String())
	require.Equal(t, "unknown", Kind(numKinds).String())
	txt, err := ReadinessChanged.MarshalText()
	require.NoError(t, err)
	require.Equal(t, "readiness_changed", string(txt))
}

// TestDropOldest: a subscriber that does not read loses the oldest events, not the
// newest, and its counter says how many.
func TestDropOldest(t *testing.T) {
	b := New(nil)
	slow := b.Subscribe("slow", 2)
	fast := b.Subscribe("fast", 8)
	for i := 0; i < 5; i++ {
		b.Publish(Event{Kind: ReadinessChanged, Component: "sink:hook"})
	}
	require.Equal(t, uint64(3), slow.Dropped())
	require.Zero(t, fast.Dropped())
	got := drain(slow)
	require.Len(t, got, 2)
	require.Equal(t, []uint64{4, 5}, []uint64{got[0].Seq, got[1].Seq}, "the newest two are kept")
	require.Len(t, drain(fast), 5)
	require.Equal(t, []SubscriberStats{{Name: "slow", Dropped: 3}, {Name: "fast", Dropped: 0}}, b.Stats())

	slow.Close()
	slow.Close() // twice is fine
	_, open := <-slow.C()
	require.False(t, open)
	b.Publish(Event{Kind: Started})
	require.Equal(t, uint64(3), slow.Dropped(), "a closed subscriber gets nothing")
	require.Equal(t, []SubscriberStats{{Name: "fast", Dropped: 0}}, b.Stats())
	fast.Close()
}

func TestHandle(t *testing.T) {
	b := New(nil)
	var got []Kind
	remove := b.Handle("metrics", func(e Event) { got = append(got, e.Kind) }, Delivered, Retried)
	require.True(t, b.Wants(Delivered))
	require.False(t, b.Wants(Started))
	b.Publish(Event{Kind: Delivered})
	b.Publish(Event{Kind: Started})
	b.Publish(Event{Kind: Retried})
	remove()
	require.False(t, b.Wants(Delivered))
	b.Publish(Event{Kind: Delivered})
	require.Equal(t, []Kind{Delivered, Retried}, got)
}

func TestNilBus(t *testing.T) {
	var b *Bus
	b.Publish(Event{Kind: Started}) // no panic
	require.False(t, b.Wants(Started))
	require.Nil(t, b.Stats())
}

// TestConcurrentPublish: publishers on many goroutines, subscribers reading and one
// subscribing and leaving meanwhile; every subscriber sees strictly increasing Seq, and
// a reader with room for everything sees everything. Run under -race.
func TestConcurrentPublish(t *testing.T) {
	const publishers, each = 8, 500
	b := New(nil)
	var handled int
	b.Handle("count", func(Event) { handled++ }) // under the bus lock: no race
	all := b.Subscribe("all", publishers*each)
	small := b.Subscribe("small", 4, Delivered)

	var readers sync.WaitGroup
	read := func(s *Subscription, n *int) {
		defer readers.Done()
		var last uint64
		for e := range s.C() {
			if e.Seq <= last {
				t.Errorf("%s: seq %d after %d", s.Name(), e.Seq, last)
			}
			last = e.Seq
			*n++
		}
	}
	var nAll, nSmall int
	readers.Add(2)
	go read(all, &nAll)     // exits when all is closed
	go read(small, &nSmall) // exits when small is closed

	var pubs sync.WaitGroup
	for p := 0; p < publishers; p++ {
		pubs.Add(1)
		go func() { // exits after its events
			defer pubs.Done()
			for i := 0; i < each; i++ {
				k := Delivered
				if i%2 == 1 {
					k = ReadinessChanged
				}
				b.Publish(Event{Kind: k, Sink: "hook"})
			}
		}()
	}
	pubs.Add(1)
	go func() { // subscribes and leaves while the others publish
		defer pubs.Done()
		for i := 0; i < 50; i++ {
			s := b.Subscribe("churn", 1)
			b.Publish(Event{Kind: Started})
			s.Close()
		}
	}()
	pubs.Wait()
	all.Close()
	small.Close()
	readers.Wait()

	total := publishers*each + 50
	require.Equal(t, total, nAll)
	require.Zero(t, all.Dropped())
	require.Equal(t, publishers*each/2, nSmall+int(small.Dropped()), "each Delivered is read or counted as dropped")
	b.mu.Lock()
	require.Equal(t, total, handled)
	b.mu.Unlock()
}

// BenchmarkPublish compares the ways the metrics could follow delivered events: a
// synchronous handler (what the daemon uses), a channel subscriber read by a goroutine,
// and, for reference, a kind nobody asked for.
func BenchmarkPublish(b *testing.B) {
	ev := Event{Kind: Delivered, Sink: "hook", Source: "plant", EventID: "01JEXAMPLE", Key: "site1/pump3"}
	b.Run("handler", func(b *testing.B) {
		bus := New(nil)
		var n int
		bus.Handle("metrics", func(Event) { n++ }, Delivered)
		b.ReportAllocs()
		for b.Loop() {
			bus.Publish(ev)
		}
	})
	b.Run("channel", func(b *testing.B) {
		bus := New(nil)
		s := bus.Subscribe("metrics", DefaultBuffer, Delivered)
		done := make(chan struct{})
		go func() { // exits when s is closed
			defer close(done)
			for range s.C() {
			}
		}()
		b.ReportAllocs()
		for b.Loop() {
			bus.Publish(ev)
		}
		b.StopTimer()
		s.Close()
		<-done
	})
	b.Run("unwanted", func(b *testing.B) {
		bus := New(nil)
		bus.Handle("other", func(Event) {}, Started)
		b.ReportAllocs()
		for b.Loop() {
			bus.Publish(ev)
		}
	})
}
