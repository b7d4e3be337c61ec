package ilert

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc/httpctest"
)

// TestWireBytes pins the exact bytes of ilert requests on the wire: the request line,
// Host, User-Agent, Content-Length, then the header fields in name order (as net/http
// writes them), then the body.
func TestWireBytes(t *testing.T) {
	addr, got := httpctest.Capture(t, "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
	base := "http://" + addr
	d := testDeps()
	d.Version = "1.2.3"
	s := newSink(t, Config{APIHost: base, HeartbeatHost: base, IntegrationKey: "il1api-default", APIKey: "il1api-secret-key", EventsPath: PathMQTT}, d)
	hdr := "Host: " + addr + "\r\n" +
		"User-Agent: edgerelay/1.2.3\r\n"
	fields := "Accept: application/json\r\n" +
		"Authorization: Bearer il1api-secret-key\r\n" +
		"Content-Type: application/json\r\n" +
		"\r\n"
	body := `{"eventType":"ALERT","integrationKey":"il1api-k1","summary":"x"}`
	for i, tc := range []struct {
		e    *adapters.Event
		want string
	}{
		{&adapters.Event{ID: "e1", Kind: adapters.KindAlert, Payload: []byte(body)},
			"POST /api/v1/events/mqtt/il1api-k1 HTTP/1.1\r\n" + hdr + "Content-Length: 64\r\n" + fields + body},
		{&adapters.Event{ID: "e2", Kind: adapters.KindAlert, Payload: []byte(body)},
			"POST /api/v1/events/mqtt/il1api-k1 HTTP/1.1\r\n" + hdr + "Content-Length: 64\r\n" + fields + body},
		{&adapters.Event{ID: "e3", Kind: adapters.KindAlert, Payload: []byte(body), Attrs: map[string]string{AttrEventsPath: PathEvents}},
			"POST /api/events HTTP/1.1\r\n" + hdr + "Content-Length: 64\r\n" + fields + body},
		{&adapters.Event{ID: "e4", Kind: adapters.KindHeartbeat, Key: "il1hbt-k2"},
			"GET /api/heartbeats/il1hbt-k2 HTTP/1.1\r\n" + hdr + fields},
		{&adapters.Event{ID: "e5", Kind: adapters.KindHeartbeat, Key: "p1"},
			"HEAD /api/pings/p1 HTTP/1.1\r\n" + hdr + fields},
	} {
		err := s.Send(context.Background(), tc.e)
		if tc.e.Kind != adapters.KindHeartbeat {
			require.NoError(t, err)
		}
		raw := <-got
		if d := os.Getenv("WIRE_DUMP"); d != "" {
			_ = os.WriteFile(d+"/ilert"+strconv.Itoa(i), raw, 0o600)
		}
		require.Equal(t, tc.want, string(raw), tc.e.ID)
	}
}
