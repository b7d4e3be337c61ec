package webhook

import (
	"testing"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc/httpctest"
)

// BenchmarkSend is one event through the sink on a kept connection, as W1 sends it;
// the allocations are the sink's (the server allocates next to nothing).
func BenchmarkSend(b *testing.B) {
	cfg := DefaultConfig()
	cfg.URL = httpctest.Answer(b, "HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 01:00:00 GMT\r\nContent-Length: 0\r\n\r\n") + "/hook"
	s, err := New(cfg, testDeps())
	if err != nil {
		b.Fatal(err)
	}
	e := &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert, Key: "pump-7", Source: "plant-mqtt",
		Topic: "plant/pump/7", Payload: []byte(`{"summary":"pump 7 down"}`), Attrs: map[string]string{"mqtt.qos": "1"}}
	httpctest.BenchSend(b, s, e)
}
