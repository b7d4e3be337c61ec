package httpc

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters/internal/httpc/httpctest"
)

const benchAnswer = "HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 01:00:00 GMT\r\nContent-Length: 0\r\n\r\n"

var benchPayload = []byte(`{"summary":"disk full","severity":"critical"}`)

// BenchmarkDo is one POST and its answer on a kept connection, as a sink's worker
// sent it before Send: an *http.Request and its header map per request.
func BenchmarkDo(b *testing.B) {
	u := httpctest.Answer(b, benchAnswer)
	c, err := NewClient(5*time.Second, TLSConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, u, bytes.NewReader(benchPayload))
		if err != nil {
			b.Fatal(err)
		}
		h := NewHeader(7)
		h.Set("User-Agent", "edgerelay/1")
		h.Set("Content-Type", "application/json")
		h.Set("X-Edgerelay-Event-Id", "01J0000000000000000000000")
		h.Set("X-Edgerelay-Key", "pump-7")
		h.Set("X-Edgerelay-Source", "plant-mqtt")
		h.Set("X-Edgerelay-Topic", "plant/pump/7")
		req.Header = h.Header()
		if _, _, err := Do(c, req, 1024); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSend is BenchmarkDo as the sinks send now: a Target and a StaticHeader
// built once, four fields of its own per request.
func BenchmarkSend(b *testing.B) {
	u := httpctest.Answer(b, benchAnswer)
	c, err := NewClient(5*time.Second, TLSConfig{})
	if err != nil {
		b.Fatal(err)
	}
	tgt, err := NewTarget(http.MethodPost, u)
	if err != nil {
		b.Fatal(err)
	}
	sh := NewStaticHeader(Field{"User-Agent", "edgerelay/1"}, Field{"Content-Type", "application/json"})
	b.ReportAllocs()
	for b.Loop() {
		fs := [4]Field{{"X-Edgerelay-Event-Id", "01J0000000000000000000000"}, {"X-Edgerelay-Key", "pump-7"},
			{"X-Edgerelay-Source", "plant-mqtt"}, {"X-Edgerelay-Topic", "plant/pump/7"}}
		r := Request{Target: tgt, Header: sh, Fields: fs[:], Body: benchPayload}
		if _, err := Send(b.Context(), c, &r, 1024); err != nil {
			b.Fatal(err)
		}
	}
}
