package webhook

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc/httpctest"
)

// TestWireBytes pins the exact bytes of a webhook request on the wire: the request
// line, Host, User-Agent, Content-Length, then the header fields in name order (as
// net/http writes them), then the payload.
func TestWireBytes(t *testing.T) {
	addr, got := httpctest.Capture(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	cfg := DefaultConfig()
	cfg.URL = "http://" + addr + "/hook?x=1"
	cfg.Headers = map[string]string{"X-Site": "plant-7", "a-first": "1"}
	cfg.AuthHeader = "X-Api-Key"
	cfg.AuthValue = "s3cret-key"
	s := newSink(t, cfg)
	e := &adapters.Event{ID: "01J0000000000000000000000", Kind: adapters.KindAlert, Key: "pump-7", Source: "plant-mqtt",
		Topic: "plant/pump/7", Payload: []byte(`{"summary":"pump 7 down"}`),
		Attrs: map[string]string{"header.x-alerta-loop": "gw-1", "header.X-Site": "lost", "mqtt.qos": "1"}}
	for range 2 { // a new connection, then the kept one
		require.NoError(t, s.Send(context.Background(), e))
		raw := <-got
		if d := os.Getenv("WIRE_DUMP"); d != "" {
			_ = os.WriteFile(d+"/webhook", raw, 0o600)
		}
		require.Equal(t, "POST /hook?x=1 HTTP/1.1\r\n"+
			"Host: "+addr+"\r\n"+
			"User-Agent: edgerelay/test\r\n"+
			"Content-Length: 25\r\n"+
			"A-First: 1\r\n"+
			"Content-Type: application/json\r\n"+
			"X-Alerta-Loop: gw-1\r\n"+
			"X-Api-Key: s3cret-key\r\n"+
			"X-Edgerelay-Event-Id: 01J0000000000000000000000\r\n"+
			"X-Edgerelay-Key: pump-7\r\n"+
			"X-Edgerelay-Source: plant-mqtt\r\n"+
			"X-Edgerelay-Topic: plant/pump/7\r\n"+
			"X-Site: plant-7\r\n"+
			"\r\n"+
			`{"summary":"pump 7 down"}`, string(raw))
	}
}
