package forward

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc/httpctest"
)

// The §4.2 known-answer credentials, time and nonce.
const (
	kaID    = "e3b8afc0-db18-4c51-865d-b95322742c5e"
	kaKey   = "MDhjZGMyYTRkY2YyNjk1MTEyMWFlNmM3Y2UxZDU1ZjIK"
	kaTS    = 1700000000
	kaNonce = "Ab3dE_"
	fixedID = "6f1c3b9e-0d7a-4c52-9a43-2b8f7e5d1c00"
)

// pinned returns deps whose clock reads the known-answer time, and pins the sink's
// nonce and request id.
func pinned(s *Sink) {
	s.nonce = func() string { return kaNonce }
	s.newID = func() string { return fixedID }
}

func kaDeps() adapters.Deps {
	d := testDeps()
	d.Clock = clocktest.NewFake(time.Unix(kaTS, 0))
	return d
}

// TestWireBytes pins the exact bytes of each request (alert, action, delete,
// heartbeat) under each auth method: the request line, Host, User-Agent,
// Content-Length ("0" on DELETE, as Alerta), then the fields in name order, then the
// body as the event carried it.
func TestWireBytes(t *testing.T) {
	type op struct {
		name, method, uri, body string
		event                   func() *adapters.Event
	}
	ops := []op{
		{"alert", "POST", "/api/alert", alertBody, func() *adapters.Event { return fedAlert("http://upstream:9999,http://gw-test:8977") }},
		{"action", "PUT", "/api/alert/" + alertID + "/action", ackBody, func() *adapters.Event {
			return fedAction(ackBody, "http://upstream:9999,http://gw-test:8977", true)
		}},
		{"delete", "DELETE", "/api/alert/" + alertID, "", func() *adapters.Event { return fedDelete("http://upstream:9999,http://gw-test:8977") }},
		{"heartbeat", "POST", "/api/heartbeat", `{"origin": "gw-1", "tags": [], "attributes": {}, "timeout": 300}`,
			func() *adapters.Event { return fedHeartbeat("http://upstream:9999,http://gw-test:8977") }},
	}
	auths := []struct {
		name string
		set  func(*Config)
		want func(addr string, o op) string // the Authorization value, "" for none
	}{
		{"none", func(*Config) {}, func(string, op) string { return "" }},
		{"basic", func(c *Config) { c.Username, c.Password = "u", "p" }, func(string, op) string { return "Basic dTpw" }},
		{"api_key", func(c *Config) { c.APIKey = "demo-key" }, func(string, op) string { return "Key demo-key" }},
		{"token", func(c *Config) { c.Token = "bearer-token" }, func(string, op) string { return "Bearer bearer-token" }},
		{"hawk", func(c *Config) { c.Hawk = HawkConfig{ID: kaID, Key: kaKey} }, func(addr string, o op) string {
			host, port, _ := strings.Cut(addr, ":")
			p, _ := strconv.Atoi(port)
			v, err := hawk.Header(hawk.Credentials{ID: kaID, Key: kaKey}, hawk.Request{Method: o.method, Host: host, Port: p,
				Resource: o.uri, ContentType: "application/json", Body: []byte(o.body)}, kaTS, kaNonce)
			require.NoError(t, err)
			return v
		}},
	}
	for _, a := range auths {
		t.Run(a.name, func(t *testing.T) {
			addr, got := httpctest.Capture(t, "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"status\": \"ok\"}")
			cfg := Config{URL: "http://" + addr + "/api", Forward: []string{"*", "heartbeats"}}
			a.set(&cfg)
			s := newSink(t, cfg, kaDeps())
			pinned(s)
			for _, o := range ops {
				require.NoError(t, s.Send(t.Context(), o.event()), o.name)
				raw := string(<-got)
				if d := os.Getenv("WIRE_DUMP"); d != "" {
					_ = os.WriteFile(d+"/alerta-"+a.name+"-"+o.name, []byte(raw), 0o600)
				}
				want := o.method + " " + o.uri + " HTTP/1.1\r\n" +
					"Host: " + addr + "\r\n" +
					"User-Agent: edgerelay/test\r\n" +
					"Content-Length: " + strconv.Itoa(len(o.body)) + "\r\n"
				if v := a.want(addr, o); v != "" {
					want += "Authorization: " + v + "\r\n"
				}
				want += "Content-Type: application/json\r\n" +
					"X-Alerta-Loop: http://upstream:9999,http://gw-test:8977\r\n" +
					"X-Request-ID: " + fixedID + "\r\n" +
					"\r\n" + o.body
				require.Equal(t, want, raw, o.name)
			}
		})
	}
}

// TestHawkKnownAnswers signs the spec's §4.2 vectors through the sink's own request
// building: rows 1 to 3, the third being a DELETE over https with no port and an
// empty body hashed with application/json, which a real Alerta 9.1 accepts.
func TestHawkKnownAnswers(t *testing.T) {
	tests := []struct {
		name, url, path, method, body, want string
	}{
		{"POST alert", "http://localhost:9001", "/alert", http.MethodPost,
			`{"resource": "web01", "event": "HttpError", "environment": "Production", "service": ["Web"], "severity": "major"}`,
			`Hawk mac="HZ0JCl5gSqVs8vhYpyeq14exwl7g3mTAe2pPU0SVjjA=", hash="rP43Xs3RKnFF9QrTmrXGzaN8lAXrMKFrk5o08pWCOhs=", id="e3b8afc0-db18-4c51-865d-b95322742c5e", ts="1700000000", nonce="Ab3dE_"`},
		{"PUT action", "http://localhost:9001", "/alert/b528c6f7-0925-4f6d-b930-fa6c0bba51dc/action", http.MethodPut,
			ackBody,
			`Hawk mac="hwGnl0dsfFckhDjotSE0/lzgXp2/X3OkE2W7FgqeOhc=", hash="9hdumuH6HQrxCRanMBeAQiwBtC8y1hmu/2TpEcOD5fY=", id="e3b8afc0-db18-4c51-865d-b95322742c5e", ts="1700000000", nonce="Ab3dE_"`},
		{"DELETE over https, empty body", "https://alerta.example.com/api", "/alert/b528c6f7-0925-4f6d-b930-fa6c0bba51dc", http.MethodDelete,
			"",
			`Hawk mac="Z8yS1ihn82oNxQg8RID5z9R79WJdlWpg3ux9x0zc+zg=", hash="NVuBm+XMyya3Tq4EhpZ0cQWjVUyIA8sKnySkKDOIM4M=", id="e3b8afc0-db18-4c51-865d-b95322742c5e", ts="1700000000", nonce="Ab3dE_"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{URL: tc.url, Forward: []string{"*"}, Origin: "http://gw:1", Hawk: HawkConfig{ID: kaID, Key: kaKey}}, kaDeps())
			require.NoError(t, err)
			pinned(s)
			cred, err := s.resolve()
			require.NoError(t, err)
			req, err := http.NewRequest(tc.method, tc.url+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", contentType)
			require.NoError(t, s.authorize(req, cred, []byte(tc.body)))
			require.Equal(t, tc.want, req.Header.Get("Authorization"))
		})
	}
}

// TestHawkVerifiedByPeer: a peer verifying Hawk as Alerta does (against the Host it
// was addressed by and the path with its prefix and escaped id) accepts every
// request of the sink, the empty-bodied DELETE included.
func TestHawkVerifiedByPeer(t *testing.T) {
	v := &hawk.Verifier{Lookup: func(id string) (hawk.Credentials, bool) {
		return hawk.Credentials{ID: kaID, Key: kaKey}, id == kaID
	}}
	var failures []string
	p := newPeer(t)
	check := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, port, _ := strings.Cut(r.Host, ":")
		n, _ := strconv.Atoi(port)
		body := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(body)
		if _, err := v.Verify(hawk.Request{Method: r.Method, Host: host, Port: n, Resource: r.RequestURI,
			ContentType: r.Header.Get("Content-Type"), Body: body}, r.Header.Get("Authorization")); err != nil {
			failures = append(failures, r.Method+" "+r.RequestURI+": "+err.Error())
		}
		w.WriteHeader(http.StatusOK)
	})
	p.srv.Config.Handler = check
	cfg := Config{URL: p.URL() + "/api", Forward: []string{"*", "heartbeats"}, Hawk: HawkConfig{ID: kaID, Key: kaKey}}
	s := newSink(t, cfg, testDeps())
	odd := fedDelete("")
	odd.Attrs["alerta.id"] = "a/b c?d"
	for _, e := range []*adapters.Event{fedAlert(""), fedAction(ackBody, "", false), fedDelete(""), fedHeartbeat(""), odd} {
		require.NoError(t, s.Send(t.Context(), e))
	}
	require.Empty(t, failures)
}
