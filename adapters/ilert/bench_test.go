package ilert

import (
	"testing"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc/httpctest"
)

// BenchmarkSend is one alert event through the sink on a kept connection, as W1
// sends it (events_path mqtt, the key in the body); the allocations are the sink's
// (the server allocates next to nothing).
func BenchmarkSend(b *testing.B) {
	u := httpctest.Answer(b, "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	s, err := New(Config{APIHost: u, HeartbeatHost: u, APIKey: "il1api-bench-key", EventsPath: PathMQTT}, testDeps())
	if err != nil {
		b.Fatal(err)
	}
	e := &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert,
		Payload: []byte(`{"eventType":"ALERT","integrationKey":"il1api-bench","summary":"pump 7 down","priority":"HIGH"}`)}
	httpctest.BenchSend(b, s, e)
}
