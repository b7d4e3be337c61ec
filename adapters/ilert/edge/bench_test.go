package edge

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// BenchmarkNewEvent measures turning one item into an event.
func BenchmarkNewEvent(b *testing.B) {
	p := ilerttest.DefaultEdgePayload(123456)
	b.ReportAllocs()
	for b.Loop() {
		_ = newEvent("edge", 123456, p, time.Time{})
	}
}

// BenchmarkPollAndPublish measures one poll of a full batch from the fake and its
// publish to a publisher that settles at once: the source's own cost per batch of
// 100 items (b.N batches).
func BenchmarkPollAndPublish(b *testing.B) {
	fake := ilerttest.NewServer(b)
	fake.SetRecord(false)
	fake.AddEdgeItems(testKey, 100, nil)
	src, err := NewSource(testConfig(fake.URL()), adapters.Deps{Name: "edge"})
	if err != nil {
		b.Fatal(err)
	}
	pub := adapters.PublisherFunc(func(_ context.Context, _ *adapters.Event, done func(adapters.Settlement)) error {
		done(adapters.Settled(adapters.Stored, ""))
		return nil
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a, err := src.poll(ctx, 0)
		if err != nil || len(a.Items) != 100 {
			b.Fatal(err, len(a.Items))
		}
		if last, err := src.publish(ctx, pub, a.Items, 0); err != nil || last != 100 {
			b.Fatal(err, last)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "items/s")
}

// FuzzNewEvent: any JSON payload becomes an event whose payload is the same JSON,
// compact, with the item id in its attributes.
func FuzzNewEvent(f *testing.F) {
	for _, s := range []string{`{"id":"1","eventType":"alert-created"}`, `{ "id" : 12 }`, `[1, 2]`, `"x"`, `null`, `{"id":"a\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if !json.Valid(payload) {
			return // the answer is decoded whole: a payload is always valid JSON
		}
		e := newEvent("edge", 7, payload, time.Time{})
		if !json.Valid(e.Payload) {
			t.Fatalf("payload %q became invalid %q", payload, e.Payload)
		}
		var a, b any
		if json.Unmarshal(payload, &a) != nil {
			return // valid, but not representable as any (a number out of float64 range)
		}
		if err := json.Unmarshal(e.Payload, &b); err != nil {
			t.Fatal(err)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Fatalf("payload changed: %s → %s", payload, e.Payload)
		}
		if e.ID != "edge-7" || e.Attrs[AttrItemIDHeader] != "7" || e.Topic == "" {
			t.Fatalf("bad event %+v", e)
		}
	})
}
