package forward

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// call is one request a peer received.
type call struct {
	Method, Path string // Path is the request URI
	Header       http.Header
	Body         []byte
}

// answer is a scripted reply.
type answer struct {
	code   int
	body   string
	header http.Header
	echo   bool // append the request's Authorization and body, as careless servers do
}

// peer is a small Alerta-like endpoint: it records every request and answers from
// a script (first matching "METHOD path-prefix" rule with answers left), else 200
// {"status":"ok"} (201 for POST /alert, as Alerta).
type peer struct {
	mu     sync.Mutex // guards the fields below
	srv    *httptest.Server
	calls  []call
	script map[string][]answer
}

func newPeer(t *testing.T) *peer {
	p := &peer{script: map[string][]answer{}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(func() {
		p.mu.Lock()
		srv := p.srv
		p.mu.Unlock()
		srv.Close()
	})
	return p
}

func (p *peer) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.srv.URL
}

// on scripts the next answers to requests whose "METHOD uri" starts with rule.
func (p *peer) on(rule string, as ...answer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script[rule] = append(p.script[rule], as...)
}

func (p *peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.calls = append(p.calls, call{Method: r.Method, Path: r.RequestURI, Header: r.Header.Clone(), Body: body})
	var a *answer
	for rule, as := range p.script {
		if len(as) > 0 && strings.HasPrefix(r.Method+" "+r.RequestURI, rule) {
			a = &as[0]
			p.script[rule] = as[1:]
			break
		}
	}
	p.mu.Unlock()
	if a == nil {
		code := http.StatusOK
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/alert") {
			code = http.StatusCreated
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"status": "ok"}`)
		return
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.code)
	_, _ = io.WriteString(w, a.body)
	if a.echo {
		_, _ = io.WriteString(w, " you sent Authorization="+r.Header.Get("Authorization")+" body="+string(body))
	}
}

// received returns the calls so far, and forgets them when reset.
func (p *peer) received(reset bool) []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := append([]call(nil), p.calls...)
	if reset {
		p.calls = nil
	}
	return c
}

// lines returns "METHOD uri" of every call.
func lines(cs []call) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Method+" "+c.Path)
	}
	return out
}

// restart closes the server and serves again on the same address.
func (p *peer) restart(t *testing.T) {
	p.mu.Lock()
	old := p.srv
	p.mu.Unlock()
	addr := old.Listener.Addr().String()
	old.Close()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		adaptertest.Missing(t, "cannot listen on %s again after the restart: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
}

func testDeps() adapters.Deps {
	return adapters.Deps{Name: "test", Log: slog.New(slog.DiscardHandler), Now: time.Now, Version: "test"}
}

// newSink builds and connects a sink.
func newSink(t *testing.T, cfg Config, d adapters.Deps) *Sink {
	t.Helper()
	if cfg.Origin == "" {
		cfg.Origin = "http://gw-test:8977"
	}
	s, err := New(cfg, d)
	require.NoError(t, err)
	require.NoError(t, s.Connect(t.Context()))
	t.Cleanup(func() { _ = s.Close(t.Context()) })
	return s
}

// Federation events as the receiver makes them.
const (
	alertID   = "b528c6f7-0925-4f6d-b930-fa6c0bba51dc"
	alertBody = `{"id": "b528c6f7-0925-4f6d-b930-fa6c0bba51dc", "resource": "web01", "event": "HttpError", "environment": "Production", "severity": "major", "correlate": [], "service": ["Web"], "group": "Misc", "value": null, "text": "", "tags": [], "attributes": {}, "origin": "probe/1", "type": "exceptionAlert", "createTime": "2026-11-21T23:40:08.087Z", "timeout": 86400, "rawData": null, "customer": null}`
	ackBody   = `{"action": "ack", "text": "ack operator action", "timeout": null}`
)

func fedAlert(loop string) *adapters.Event {
	return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert, Key: alertID, Source: "federation",
		Payload: []byte(alertBody), Attrs: map[string]string{"alerta.op": "alert", "alerta.id": alertID, "alerta.loop": loop}}
}

func fedAction(body, loop string, resend bool) *adapters.Event {
	e := &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert, Key: alertID, Source: "federation",
		Payload: []byte(body), Attrs: map[string]string{"alerta.op": "action", "alerta.id": alertID, "alerta.loop": loop}}
	if resend {
		e.Attrs["alerta.resend"] = alertBody
	}
	return e
}

func fedDelete(loop string) *adapters.Event {
	return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert, Key: alertID, Source: "federation",
		Attrs: map[string]string{"alerta.op": "delete", "alerta.id": alertID, "alerta.loop": loop, "alerta.resend": alertBody}}
}

func fedHeartbeat(loop string) *adapters.Event {
	return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindHeartbeat, Key: "gw-1", Source: "federation",
		Payload: []byte(`{"origin": "gw-1", "tags": [], "attributes": {}, "timeout": 300}`),
		Attrs:   map[string]string{"alerta.op": "heartbeat", "alerta.loop": loop}}
}
