package mapping_test

import (
	"testing"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/ilert/mapping"
)

// BenchmarkTransformEvent is the per-event CPU of the ilert route transform on the
// payload `make bench` publishes. Target: ≤ 3 allocs/op (the derived event, the
// payload's one string copy and the body; it was 50 when the payload was decoded
// into a map and the body encoded by reflection, 6 when encoding/json validated it
// and gjson read it).
func BenchmarkTransformEvent(b *testing.B) {
	c := mapping.DefaultTransformConfig()
	c.Topics = mapping.Topics{Event: "bench/alerts"}
	tr, err := mapping.NewTransform(c, adapters.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	e := &adapters.Event{ID: "x", Topic: "bench/alerts", Payload: []byte(
		`{"apiKey":"il1api-bench","eventType":"ALERT","summary":"pump 3 pressure high","alertKey":"k17","customDetails":{"id":"ev-000123","sent":1763780000123456789}}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Transform(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckEvent is the ilert sink's check of a stored event body before sending.
// Target: ≤ 1 alloc/op (the integration key; it was 5, then 1 copy of the whole body).
func BenchmarkCheckEvent(b *testing.B) {
	body := []byte(`{"integrationKey":"il1api-bench","eventType":"ALERT","summary":"pump 3 pressure high","details":null,"alertKey":"k17","priority":null,"images":null,"links":null,"customDetails":{"id":"ev-000123","sent":1763780000123456789}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ilert.CheckEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}

// w1Transform is the transform the W1 bench's daemon runs (cmd/edgerelay-bench:
// `transform: { type: ilert, consumer: mqtt, event_topic: bench/alerts }`).
func w1Transform(b *testing.B) *mapping.Transform {
	c := mapping.DefaultTransformConfig()
	c.Consumer = mapping.ConsumerMQTT
	c.Topics = mapping.Topics{Event: "bench/alerts"}
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	tr, err := mapping.NewTransform(c, adapters.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	return tr
}

// The W1 payloads: w1IlertPayload is what the bench publishes through the ilert sink
// (cmd/edgerelay-bench ilertPayload, ~270 bytes), w1Payload what it publishes through
// the webhook sink (payload, ~215 bytes: no key, no eventType, no customDetails, so
// the transform makes the default customDetails).
var (
	w1IlertPayload = []byte(`{"apiKey":"il1api-bench","eventType":"ALERT","summary":"Pressure high on pump 3",` +
		`"details":"Discharge pressure 8.7 bar above the 8.0 bar limit for 30 s","alertKey":"k17","priority":"HIGH",` +
		`"customDetails":{"id":"5f3a9c01-0000-4000-8000-000000012345","ts":1763780000123456789}}`)
	w1Payload = []byte(`{"id":"5f3a9c01-0000-4000-8000-000000012345","key":"k17","ts":1763780000123456789,` +
		`"summary":"Pressure high on pump 3","details":"Discharge pressure 8.7 bar above the 8.0 bar limit for 30 s",` +
		`"priority":"HIGH"}`)
)

// BenchmarkTransformW1 is the transform of W1 through the ilert sink, and of the
// webhook W1 payload, per event. Target: ≤ 3 allocs/op, as BenchmarkTransformEvent.
func BenchmarkTransformW1(b *testing.B) {
	for _, c := range []struct {
		name    string
		payload []byte
	}{{"ilert", w1IlertPayload}, {"webhook", w1Payload}} {
		b.Run(c.name, func(b *testing.B) {
			tr := w1Transform(b)
			e := &adapters.Event{ID: "x", Topic: "bench/alerts", Payload: c.payload}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.Transform(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckEventW1 is the ilert sink's check of the body the W1 transform makes.
func BenchmarkCheckEventW1(b *testing.B) {
	tr := w1Transform(b)
	out, err := tr.Transform(&adapters.Event{ID: "x", Topic: "bench/alerts", Payload: w1IlertPayload})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ilert.CheckEvent(out.Payload); err != nil {
			b.Fatal(err)
		}
	}
}
