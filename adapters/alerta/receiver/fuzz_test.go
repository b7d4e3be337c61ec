package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
)

// lastPublisher accepts every event (stored) and keeps only a count and the last
// one, so that a long fuzz run does not grow.
type lastPublisher struct {
	mu   sync.Mutex // guards n and last
	n    int
	last *adapters.Event
}

func (p *lastPublisher) Publish(_ context.Context, e *adapters.Event, done func(adapters.Settlement)) error {
	p.mu.Lock()
	p.n++
	p.last = e
	p.mu.Unlock()
	done(adapters.Settlement{Outcome: adapters.Stored})
	return nil
}

func (p *lastPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *lastPublisher) lastEvent() *adapters.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// documented are the status codes README.md documents.
var documented = map[int]bool{200: true, 201: true, 202: true, 400: true, 401: true, 403: true, 404: true,
	405: true, 409: true, 413: true, 416: true, 500: true, 503: true}

// FuzzReceiverJSON sends arbitrary bodies as POST /alert (op 0), as an action on a
// known alert (op 1), as POST /heartbeat (op 2) and as a second alert with a loop
// header (op 3). The handler must never panic, answer only documented codes with
// a JSON body, and publish an event exactly for each 201/200 answer (and at most
// one for an alert converted to a heartbeat).
func FuzzReceiverJSON(f *testing.F) {
	for _, s := range []struct {
		op   uint8
		body string
	}{
		{0, `{"resource": "web01", "event": "HttpError", "environment": "Production", "severity": "major", "service": ["Web"]}`},
		{0, `{"id": "2f445c96-32f9-43b1-b090-27a77f47b1b1", "resource": "web01", "event": "HttpError", "environment": "Production", "severity": "major", "correlate": ["HttpError", "HttpOK"], "service": ["Web"], "group": "Web", "value": "500", "text": "Site down", "tags": ["dc1"], "attributes": {"ip": "127.0.0.1", "region": "EU"}, "origin": "probe/1", "type": "exceptionAlert", "createTime": "2026-11-21T23:40:08.087Z", "timeout": 3600, "rawData": null, "customer": null}`},
		{0, `{"resource": "r", "event": "e", "value": 5, "timeout": "x"}`},
		{0, `{"resource": "r", "event": "e", "attributes": {"a.b": 1}}`},
		{0, `{"resource": "r", "event": "e", "createTime": "2026-01-02T03:04:05Z"}`},
		{0, `{"resource": "r", "event": "e", "severity": "bogus"}`},
		{0, `{"resource": "\u00e9\ud83d\ude00", "event": "e", "text": "\"\\\n"}`},
		{0, `[1, 2]`},
		{0, `{"resource": "r", "event": "e", "attributes": {"x": [[[[[[[[[[[]]]]]]]]]]]}}`},
		{1, `{"action": "ack", "text": "looking", "timeout": null}`},
		{1, `{"action": "close"}`},
		{1, `{"action": "createIssue", "timeout": 7}`},
		{1, `{"action": ""}`},
		{1, `{"text": "x"}`},
		{2, `{"origin": "site/1", "tags": ["a"], "attributes": {"k": "v"}, "timeout": 120}`},
		{2, `{"origin": 5}`},
		{3, `{"resource": "web01", "event": "HttpError"}`},
		{0, ``},
		{0, `{"resource": "gw", "event": "Heartbeat", "origin": "site/1", "tags": ["x"]}`},
		{3, `{"resource": "gw", "event": "Heartbeat"}`},
	} {
		f.Add(s.op, []byte(s.body))
	}
	pub := &lastPublisher{}
	n := start(f, config("http://localhost:8080"), options{pub: pub})
	const known = "f0000000-0000-4000-8000-00000000000f"
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		setup := httptest.NewRequest(http.MethodPost, "/alert", bytes.NewReader(alertBody(known, "known", "E", "major")))
		setup.RemoteAddr = "127.0.0.1:1"
		n.src.Handler().ServeHTTP(httptest.NewRecorder(), setup)

		method, path := http.MethodPost, "/alert"
		switch op % 4 {
		case 1:
			method, path = http.MethodPut, "/alert/"+known+"/action"
		case 2:
			path = "/heartbeat"
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.RemoteAddr = "127.0.0.1:1"
		req.Header.Set("Content-Type", "application/json")
		if op%4 == 3 {
			req.Header.Set(alerta.HeaderLoop, "http://a:1,http://localhost:8080")
		}
		before := pub.count()
		w := httptest.NewRecorder()
		n.src.Handler().ServeHTTP(w, req)
		if !documented[w.Code] {
			t.Fatalf("undocumented status %d: %s", w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer %d is not JSON: %q", w.Code, w.Body)
		}
		published := pub.count() - before
		ok := w.Code == 200 || w.Code == 201
		// A 202 is a loop (nothing published) or an alert converted to a
		// heartbeat (its event published unless it looped).
		converted := w.Code == 202 && bytes.Contains(w.Body.Bytes(), []byte("converted to Heartbeat"))
		switch {
		case ok && published != 1, converted && published > 1, !ok && !converted && published != 0:
			t.Fatalf("status %d with %d events published", w.Code, published)
		}
		if ok && op%4 == 0 {
			e := pub.lastEvent()
			if !json.Valid(e.Payload) {
				t.Fatalf("the event's payload is not JSON: %q", e.Payload)
			}
			if _, err := alerta.DecodeAlert(e.Payload, alerta.Defaults{}); err != nil {
				t.Fatalf("the event's payload does not decode again: %v: %s", err, e.Payload)
			}
		}
	})
}
