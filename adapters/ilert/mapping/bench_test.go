package mapping_test

import (
	"testing"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/ilert/mapping"
)

// BenchmarkTransformEvent is the per-event CPU of the ilert route transform on the
// payload `make bench` publishes. Target: ≤ 5 allocs/op (the derived event, the
// payload's one string copy, the alertKey, the body and the events path; it was 50
// when the payload was decoded into a map and the body encoded by reflection).
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
// Target: ≤ 1 alloc/op (the body's one string copy; it was 5).
func BenchmarkCheckEvent(b *testing.B) {
	body := []byte(`{"integrationKey":"il1api-bench","eventType":"ALERT","summary":"pump 3 pressure high","details":null,"alertKey":"k17","priority":null,"images":null,"links":null,"customDetails":{"id":"ev-000123","sent":1763780000123456789}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ilert.CheckEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}
