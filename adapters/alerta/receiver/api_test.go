package receiver_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	"github.com/edgerelay/edgerelay/adapters/alerta/receiver"
)

// TestStatusCodes walks §5.3's table: every answer the receiver documents, with
// Alerta's messages.
func TestStatusCodes(t *testing.T) {
	c := config("http://localhost:8080/api")
	c.Environments = []string{"Production", "Development"}
	n := start(t, c, options{})
	const id = "2f445c96-32f9-43b1-b090-27a77f47b1b1"
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
		message                  string
		check                    func(t *testing.T, a answer)
	}{
		{name: "create", method: "POST", path: "/alert", body: string(alertBody(id, "web01", "HttpError", "major")), want: 201,
			check: func(t *testing.T, a answer) {
				m := a.json(t)
				require.Equal(t, "ok", m["status"])
				require.Equal(t, id, m["id"])
				require.Equal(t, "web01", m["alert"].(map[string]any)["resource"])
			}},
		{name: "duplicate keeps the id", method: "POST", path: "/alert", body: string(alertBody("11111111-2222-3333-4444-555555555555", "web01", "HttpError", "major")), want: 201,
			check: func(t *testing.T, a answer) { require.Equal(t, id, a.json(t)["id"]) }},
		{name: "reused id", method: "POST", path: "/alert", body: string(alertBody(id, "web99", "Other", "major")), want: 500,
			message: `duplicate key value violates unique constraint "alerts_pkey"`},
		{name: "id unfit for the table", method: "POST", path: "/alert", body: `{"id": "` + strings.Repeat("x", 201) + `", "resource": "r", "event": "E"}`, want: 400},
		{name: "no resource", method: "POST", path: "/alert", body: `{"event": "E"}`, want: 400, message: `Missing mandatory value for "resource"`},
		{name: "not json", method: "POST", path: "/alert", body: `{`, want: 400},
		{name: "bad severity", method: "POST", path: "/alert", body: `{"resource": "r", "event": "E", "environment": "Production", "severity": "bad"}`, want: 500},
		{name: "environment refused", method: "POST", path: "/alert", body: `{"resource": "r", "event": "E", "environment": "Staging"}`, want: 403,
			message: "[POLICY] Alert environment does not match one of Production, Development"},
		{name: "environment refused before the loop", method: "POST", path: "/alert", body: `{"resource": "r", "event": "E", "environment": "Staging"}`,
			hdr: []string{alerta.HeaderLoop, "http://localhost:8080/api"}, want: 403},
		{name: "validation before the loop", method: "POST", path: "/alert", body: `{"event": "E"}`,
			hdr: []string{alerta.HeaderLoop, "http://localhost:8080/api"}, want: 400},
		{name: "alert loop", method: "POST", path: "/alert", body: string(alertBody("", "web02", "E", "major")),
			hdr: []string{alerta.HeaderLoop, "http://localhost:8080/api"}, want: 202,
			message: "Alert forwarded by (unknown) already processed by http://localhost:8080/api",
			check:   func(t *testing.T, a answer) { require.NotContains(t, a.json(t), "id") }},
		{name: "action", method: "PUT", path: "/alert/" + id + "/action", body: `{"action": "ack"}`, want: 200},
		{name: "action again", method: "PUT", path: "/alert/" + id + "/action", body: `{"action": "ack"}`, want: 409},
		{name: "action by short id", method: "PUT", path: "/alert/" + id[:8] + "/action", body: `{"action": "unack"}`, want: 200},
		{name: "action by last receive id", method: "PUT", path: "/alert/11111111-2222/action", body: `{"action": "shelve"}`, want: 200},
		{name: "action without action", method: "PUT", path: "/alert/" + id + "/action", body: `{"text": "x"}`, want: 400, message: "must supply 'action' as json data"},
		{name: "action unknown", method: "PUT", path: "/alert/nope/action", body: `{"action": "ack"}`, want: 404, message: "not found"},
		{name: "action 404 before the loop", method: "PUT", path: "/alert/nope/action", body: `{"action": "ack"}`,
			hdr: []string{alerta.HeaderLoop, "http://localhost:8080/api"}, want: 404},
		{name: "action loop", method: "PUT", path: "/alert/" + id + "/action", body: `{"action": "open"}`,
			hdr: []string{alerta.HeaderLoop, "http://other:1,http://LOCALHOST:8080/api/", "Origin", "http://other:1"}, want: 202,
			message: "Action open forwarded by http://other:1 already processed by http://localhost:8080/api"},
		{name: "get", method: "GET", path: "/alert/" + id, want: 200, check: func(t *testing.T, a answer) {
			m := a.json(t)
			require.EqualValues(t, 1, m["total"])
			require.Equal(t, "shelved", m["alert"].(map[string]any)["status"], "the looped open changed nothing")
		}},
		{name: "get unknown", method: "GET", path: "/alert/nope", want: 404},
		{name: "list", method: "GET", path: "/alerts", want: 200, check: func(t *testing.T, a answer) {
			require.EqualValues(t, 1, a.json(t)["total"])
		}},
		{name: "list page out of range", method: "GET", path: "/alerts?page=9", want: 416},
		{name: "list bad filter", method: "GET", path: "/alerts?colour=red", want: 400, message: "Invalid filter parameter: colour"},
		{name: "delete loop", method: "DELETE", path: "/alert/" + id, hdr: []string{alerta.HeaderLoop, "http://localhost:8080/api"}, want: 202,
			message: "Delete forwarded by (unknown) already processed by http://localhost:8080/api"},
		{name: "delete", method: "DELETE", path: "/alert/" + id, want: 200},
		{name: "delete again", method: "DELETE", path: "/alert/" + id, want: 404},
		{name: "delete 404 before the loop", method: "DELETE", path: "/alert/" + id, hdr: []string{alerta.HeaderLoop, "http://localhost:8080/api"}, want: 404},
		{name: "heartbeat", method: "POST", path: "/heartbeat", body: `{"origin": "site/1", "tags": [], "timeout": 120}`, want: 201,
			check: func(t *testing.T, a answer) { require.NotEmpty(t, a.json(t)["id"]) }},
		{name: "heartbeat bad", method: "POST", path: "/heartbeat", body: `{"origin": "site/1", "timeout": "x"}`, want: 400},
		{name: "heartbeat loop", method: "POST", path: "/heartbeat", body: `{"origin": "site/1"}`,
			hdr: []string{alerta.HeaderLoop, "http://localhost:8080/api"}, want: 202},
		{name: "heartbeats", method: "GET", path: "/heartbeats", want: 200},
		{name: "alert converted to heartbeat", method: "POST", path: "/alert", body: `{"resource": "gw", "event": "Heartbeat", "environment": "Production", "origin": "site/2"}`,
			want: 202, message: "Alert converted to Heartbeat", check: func(t *testing.T, a answer) { require.NotEmpty(t, a.json(t)["id"]) }},
		{name: "looped alert converted to heartbeat", method: "POST", path: "/alert", body: `{"resource": "gw", "event": "Heartbeat", "environment": "Production", "origin": "site/3"}`,
			hdr: []string{alerta.HeaderLoop, "http://localhost:8080/api"}, want: 202, message: "Alert converted to Heartbeat"},
		{name: "wrong method", method: "GET", path: "/alert", want: 405, check: func(t *testing.T, a answer) {
			require.Equal(t, "POST", a.header.Get("Allow"))
		}},
		{name: "wrong method on id", method: "POST", path: "/alert/" + id, want: 405},
		{name: "escaped route", method: "GET", path: "/%61lerts", want: 200},
		{name: "escaped slash in an id", method: "GET", path: "/alert/a%2Fb", want: 404, message: "not found"},
		{name: "unknown path", method: "GET", path: "/alert/" + id + "/notes", want: 404},
		{name: "unknown path 2", method: "GET", path: "/alert/a/b/action", want: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			a := n.do(tc.method, "/api"+tc.path, body, append([]string{alerta.HeaderRequestID, "req-" + tc.name}, tc.hdr...)...)
			require.Equal(t, tc.want, a.status, "%s", a.body)
			require.Equal(t, "req-"+tc.name, a.header.Get(alerta.HeaderRequestID))
			require.Equal(t, "application/json", a.header.Get("Content-Type"))
			if tc.message != "" {
				require.Equal(t, tc.message, a.json(t)["message"])
			}
			if tc.want >= 400 {
				m := a.json(t)
				require.Equal(t, "error", m["status"])
				require.EqualValues(t, tc.want, m["code"])
				require.Equal(t, "req-"+tc.name, m["requestId"])
				require.Contains(t, m, "errors")
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
	// A request without X-Request-ID gets a new one.
	a := n.do("GET", "/api/alerts", nil)
	require.Len(t, a.header.Get(alerta.HeaderRequestID), 36)

	// Refused requests are counted by reason.
	got := n.rejects()
	for reason, want := range map[string]int{
		receiver.RejectInvalid: 8, receiver.RejectForbidden: 2, receiver.RejectMethodNotAllowed: 2, receiver.RejectNotFound: 2,
	} {
		require.Equal(t, want, got[reason], "%s in %v", reason, got)
	}
}

// TestEvents checks the events of each op against the conventions of package
// alerta: kinds, keys, payloads and attributes.
func TestEvents(t *testing.T) {
	n := start(t, config("http://localhost:8080"), options{})
	const id, id2 = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
	require.Equal(t, 201, n.do("POST", "/alert", alertBody(id, "web01", "HttpError", "major")).status)
	require.Equal(t, 201, n.do("POST", "/alert", alertBody(id2, "web01", "HttpError", "major"), alerta.HeaderLoop, "http://a:1").status)
	require.Equal(t, 200, n.do("PUT", "/alert/"+id2+"/action", []byte(`{"action": "ack"}`), alerta.HeaderLoop, "http://a:1").status)
	require.Equal(t, 200, n.do("DELETE", "/alert/"+id, nil).status)
	require.Equal(t, 201, n.do("POST", "/heartbeat", []byte(`{"origin": "site/1"}`)).status)

	evs := n.rec.Accepted()
	require.Len(t, evs, 5)
	for _, e := range evs[:4] {
		require.Equal(t, adapters.KindAlert, e.Kind)
		require.Equal(t, id, e.Key, "the stored id")
		require.Equal(t, "federation", e.Source)
		require.NotEmpty(t, e.ID)
		require.Equal(t, alerta.DedupKey("Production", "web01", "HttpError", nil), e.Attrs[alerta.AttrDedup])
	}
	require.Equal(t, alerta.OpAlert, evs[0].Attrs[alerta.AttrOp])
	require.Equal(t, id, evs[0].Attrs[alerta.AttrID])
	require.Equal(t, "http://localhost:8080", evs[0].Attrs[alerta.AttrLoop])
	require.True(t, bytes.HasPrefix(evs[0].Payload, []byte(`{"id": "`+id+`", "resource": "web01", "event": "HttpError"`)), "%s", evs[0].Payload)

	require.Equal(t, id2, evs[1].Attrs[alerta.AttrID], "the incoming id (lastReceiveId)")
	require.Equal(t, "http://a:1,http://localhost:8080", evs[1].Attrs[alerta.AttrLoop])
	require.Contains(t, string(evs[1].Payload), `"id": "`+id2+`"`)

	require.Equal(t, alerta.OpAction, evs[2].Attrs[alerta.AttrOp])
	require.Equal(t, id, evs[2].Attrs[alerta.AttrID])
	require.Equal(t, `{"action": "ack", "text": "ack operator action", "timeout": null}`, string(evs[2].Payload))
	require.Equal(t, string(evs[1].Payload), evs[2].Attrs[alerta.AttrResend], "the alert's last body")

	require.Equal(t, alerta.OpDelete, evs[3].Attrs[alerta.AttrOp])
	require.Empty(t, evs[3].Payload)
	require.NotEmpty(t, evs[3].Attrs[alerta.AttrResend])

	require.Equal(t, adapters.KindHeartbeat, evs[4].Kind)
	require.Equal(t, "site/1", evs[4].Key)
	require.Equal(t, alerta.OpHeartbeat, evs[4].Attrs[alerta.AttrOp])
	require.Equal(t, "http://localhost:8080", evs[4].Attrs[alerta.AttrLoop])
}

// TestForwarderLoopCases are §7.1's T4 and T5 as the receive side sees them.
func TestForwarderLoopCases(t *testing.T) {
	n := start(t, config("http://localhost:8080"), options{})
	body := alertBody("", "web01", "HttpError", "major")

	// T4: already processed here.
	a := n.do("POST", "/alert", body, "Origin", "http://localhost:5000", alerta.HeaderLoop, "http://localhost:8080,http://localhost:5000")
	require.Equal(t, http.StatusAccepted, a.status)
	require.Equal(t, map[string]any{"status": "ok", "message": "Alert forwarded by http://localhost:5000 already processed by http://localhost:8080"}, a.json(t))
	require.Empty(t, n.rec.Published())

	// T5: every destination already in the loop, not this node: stored (201); the
	// event carries the header with this node appended, so every sink skips.
	in := "http://localhost:9000,http://localhost:9001,http://localhost:9002,http://localhost:9003"
	a = n.do("POST", "/alert", body, alerta.HeaderLoop, in)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	evs := n.rec.Accepted()
	require.Len(t, evs, 1)
	loop := evs[0].Attrs[alerta.AttrLoop]
	require.Equal(t, in+",http://localhost:8080", loop)
	for _, dest := range []string{"http://localhost:9000", "http://localhost:9001", "http://localhost:9002", "http://localhost:9003"} {
		require.True(t, alerta.LoopSkip(loop, dest), dest)
	}

	// Alerta's substring test would call these loops; the strict check does not.
	for _, h := range []string{"http://localhost:80800", "xhttp://localhost:8080/api"} {
		a = n.do("POST", "/alert", alertBody("", "web-"+h[len(h)-3:], "E", "major"), alerta.HeaderLoop, h)
		require.Equal(t, http.StatusCreated, a.status, h)
	}
	// Only the first X-Alerta-Loop counts.
	a = n.do("POST", "/alert", alertBody("", "web03", "E", "major"), alerta.HeaderLoop, "http://x:1", alerta.HeaderLoop, "http://localhost:8080")
	require.Equal(t, http.StatusCreated, a.status)
}

// countingReader is an endless body that counts what was read of it.
type countingReader struct {
	mu sync.Mutex
	n  int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range p {
		p[i] = ' '
	}
	c.n += len(p)
	return len(p), nil
}

// TestBodyLimit: a 1 MiB body is answered 413 without being buffered, whether it
// announces its length or is chunked.
func TestBodyLimit(t *testing.T) {
	n := start(t, config("http://localhost:8080"), options{})
	big := bytes.Repeat([]byte(" "), 1<<20)
	a := n.do("POST", "/alert", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, a.status)

	for _, length := range []int64{-1, 1 << 20} {
		cr := &countingReader{}
		req := httptest.NewRequest(http.MethodPost, "/alert", io.LimitReader(cr, 1<<20))
		req.RemoteAddr = "127.0.0.1:5000"
		req.ContentLength = length
		w := httptest.NewRecorder()
		n.src.Handler().ServeHTTP(w, req)
		require.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		cr.mu.Lock()
		read := cr.n
		cr.mu.Unlock()
		require.LessOrEqual(t, read, receiver.DefaultMaxBodyBytes+64<<10, "content length %d", length)
	}
	require.Empty(t, n.rec.Published())
}

// TestRefusedPublishIsUndone: a refused event is answered 503 with Retry-After and
// leaves the book and the table as they were.
func TestRefusedPublishIsUndone(t *testing.T) {
	refuse := false
	var mu sync.Mutex
	rec := adaptertest.RejectWhen(func(*adapters.Event, int) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return errRefused
		}
		return nil
	})
	n := start(t, config("http://localhost:8080"), options{rec: []adaptertest.RecorderOption{rec}})
	set := func(v bool) { mu.Lock(); refuse = v; mu.Unlock() }
	const id = "cccccccc-0000-4000-8000-000000000003"

	set(true)
	a := n.do("POST", "/alert", alertBody(id, "web01", "E", "major"))
	require.Equal(t, http.StatusServiceUnavailable, a.status)
	require.Equal(t, "5", a.header.Get("Retry-After"))
	require.Equal(t, 404, n.do("GET", "/alert/"+id, nil).status, "a refused new alert is not kept")
	require.Empty(t, n.tab.keys())

	set(false)
	require.Equal(t, 201, n.do("POST", "/alert", alertBody(id, "web01", "E", "major")).status)
	record := n.tab.Get(id)
	require.NotNil(t, record)

	set(true)
	require.Equal(t, 503, n.do("POST", "/alert", alertBody("", "web01", "E", "major")).status, "a duplicate")
	require.Equal(t, 503, n.do("POST", "/alert", alertBody("", "web01", "E", "minor")).status, "a correlation")
	require.Equal(t, 503, n.do("PUT", "/alert/"+id+"/action", []byte(`{"action": "ack"}`)).status)
	require.Equal(t, 503, n.do("DELETE", "/alert/"+id, nil).status)
	got := n.do("GET", "/alert/"+id, nil).json(t)["alert"].(map[string]any)
	require.EqualValues(t, 0, got["duplicateCount"])
	require.Equal(t, "major", got["severity"])
	require.Equal(t, "open", got["status"])
	require.Equal(t, record, n.tab.Get(id), "the table holds the alert as before")
	require.Equal(t, 503, n.do("POST", "/heartbeat", []byte(`{"origin": "o"}`)).status)
}

// TestAnswerWaitsForFlush: the answer comes only once the table's Flush returned,
// and a failing flush is answered 503 (the event stays the relay's).
func TestAnswerWaitsForFlush(t *testing.T) {
	tab := newTestTable()
	tab.block = make(chan struct{})
	tab.called = make(chan struct{}, 100)
	n := start(t, config("http://localhost:8080"), options{table: tab})
	got := make(chan int, 1)
	go func() { got <- n.do("POST", "/alert", alertBody("", "web01", "E", "major")).status }()
	<-tab.called
	select {
	case s := <-got:
		t.Fatalf("answered %d before the flush returned", s)
	default:
	}
	close(tab.block)
	require.Equal(t, 201, <-got)

	tab.mu.Lock()
	tab.flushErr = errors.New("store writer stopped")
	tab.mu.Unlock()
	require.Equal(t, 503, n.do("POST", "/alert", alertBody("", "web02", "E", "major")).status)
	require.Len(t, n.rec.Accepted(), 2, "the event was the relay's all the same")
	require.Equal(t, 200, n.do("GET", "/alert/"+n.rec.Accepted()[1].Key, nil).status, "and the alert stays")
}

// TestRestoreFromTable: a second source on the same table knows the alerts of the
// first, answers for them and de-duplicates against them.
func TestRestoreFromTable(t *testing.T) {
	tab := newTestTable()
	n := start(t, config("http://localhost:8080"), options{table: tab})
	const id = "dddddddd-0000-4000-8000-000000000004"
	require.Equal(t, 201, n.do("POST", "/alert", alertBody(id, "web01", "E", "major")).status)
	require.Equal(t, 200, n.do("PUT", "/alert/"+id+"/action", []byte(`{"action": "ack"}`)).status)
	require.NoError(t, tab.Set("garbage", []byte("not a record")))

	m := start(t, config("http://localhost:8080"), options{table: tab})
	require.Equal(t, 1, m.src.Len())
	require.Nil(t, tab.Get("garbage"), "a bad record is dropped")
	a := m.do("GET", "/alert/"+id[:8], nil)
	require.Equal(t, 200, a.status)
	require.Equal(t, "ack", a.json(t)["alert"].(map[string]any)["status"])
	a = m.do("POST", "/alert", alertBody("", "web01", "E", "major"))
	require.Equal(t, id, a.json(t)["id"], "a duplicate of the restored alert")
	require.Equal(t, 200, m.do("DELETE", "/alert/"+id, nil).status)
	require.Empty(t, tab.keys())
}

// TestEviction: beyond max_alerts the oldest closed alert goes, and its record with
// it.
func TestEviction(t *testing.T) {
	c := config("http://localhost:8080")
	c.MaxAlerts = 3
	n := start(t, c, options{})
	ids := []string{"e0000000-0000-4000-8000-000000000000", "e1000000-0000-4000-8000-000000000000", "e2000000-0000-4000-8000-000000000000", "e3000000-0000-4000-8000-000000000000"}
	for i, id := range ids[:3] {
		require.Equal(t, 201, n.do("POST", "/alert", alertBody(id, fmt.Sprintf("r%d", i), "E", "major")).status)
	}
	require.Equal(t, 200, n.do("PUT", "/alert/"+ids[1]+"/action", []byte(`{"action": "close"}`)).status)
	require.Equal(t, 201, n.do("POST", "/alert", alertBody(ids[3], "r3", "E", "major")).status)
	require.Equal(t, 3, n.src.Len())
	require.Equal(t, 404, n.do("GET", "/alert/"+ids[1], nil).status)
	require.Nil(t, n.tab.Get(ids[1]))
	require.Len(t, n.tab.keys(), 3)
}

// TestOrderPerAlert: concurrent requests for one alert publish their events in the
// order the book took them, each after the one before settled.
func TestOrderPerAlert(t *testing.T) {
	// Later events settle sooner: an unserialized receiver would interleave.
	n := start(t, config("http://localhost:8080"), options{rec: []adaptertest.RecorderOption{
		adaptertest.DelayDone(func(_ *adapters.Event, seq int) time.Duration { return time.Duration(20-seq%20) * time.Millisecond }),
	}})
	const k = 20
	var wg sync.WaitGroup
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := fmt.Appendf(nil, `{"resource": "web01", "event": "E", "environment": "Production", "severity": "major", "value": "%d"}`, i)
			require.Equal(t, 201, n.do("POST", "/alert", b).status)
		}()
	}
	wg.Wait()
	a := n.do("GET", "/alert/"+n.rec.Accepted()[0].Key, nil).json(t)["alert"].(map[string]any)
	require.EqualValues(t, k-1, a["duplicateCount"])
	// The last published event is the alert's last value.
	evs := n.rec.Published()
	require.Len(t, evs, k)
	last := evs[len(evs)-1]
	require.Contains(t, string(last.Payload), fmt.Sprintf(`"value": "%s"`, a["value"]))
}

// TestNotRunning: outside Run, a request that would publish is answered 503 and
// changes nothing.
func TestNotRunning(t *testing.T) {
	n := start(t, config("http://localhost:8080"), options{noRun: true})
	require.Equal(t, 503, n.do("POST", "/alert", alertBody("", "web01", "E", "major")).status)
	require.Equal(t, 0, n.src.Len())
	require.Equal(t, 200, n.do("GET", "/alerts", nil).status)
}

// TestMountsUnderBasePath: the routes are mounted under base_url's path, and two
// sources with one path on one server fail to start.
func TestMountsUnderBasePath(t *testing.T) {
	m := adaptertest.NewMux()
	_, err := receiver.NewSource(config("http://gw:8977/alerta"), adapters.Deps{Name: "a", HTTP: m})
	require.NoError(t, err)
	_, err = receiver.NewSource(config("http://gw2:8977/alerta"), adapters.Deps{Name: "b", HTTP: m})
	require.ErrorContains(t, err, "only one alerta source")
	_, err = receiver.NewSource(config("http://gw:8977/other"), adapters.Deps{Name: "c", HTTP: m})
	require.NoError(t, err)
	for _, p := range []string{"/alerta/alert", "/alerta/alerts", "/alerta/heartbeat", "/alerta/heartbeats", "/alerta/alert/x/action"} {
		_, pattern := m.Handler(httptest.NewRequest("GET", p, nil))
		require.True(t, strings.HasPrefix(pattern, "/alerta/"), p)
	}
	_, pattern := m.Handler(httptest.NewRequest("GET", "/alertax/alert", nil))
	require.Empty(t, pattern)
}

// TestNoSecretInAnswersOrLogs plays an attacker that puts the receiver's own
// credentials (and their base64) where they could be echoed: in headers, paths,
// bodies, Origin and X-Request-ID, and in the wrong authentication method.
func TestNoSecretInAnswersOrLogs(t *testing.T) {
	const (
		apiKey = "leaky-api-key-7f3e9a"
		hawkK  = "leaky-hawk-secret-2b8c"
		bearer = "leaky-bearer-token-91d0"
		pass   = "leaky-password-c4e1"
	)
	c := config("http://gw:8977/alerta")
	c.Auth.APIKeys = []adaptersSecret{apiKey}
	c.Auth.Bearer = []adaptersSecret{bearer}
	c.Auth.Hawk = []receiver.HawkCredential{{ID: "hid", Key: hawkK}}
	c.Auth.Basic = []receiver.BasicUser{{Username: "fed", Password: pass}}
	n := start(t, c, options{now: 1700000000})
	secrets := []string{apiKey, hawkK, bearer, pass}
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s, base64.StdEncoding.EncodeToString([]byte(s)), url.QueryEscape(s))
	}
	forms = append(forms, base64.StdEncoding.EncodeToString([]byte("fed:"+pass)))
	// The MAC the receiver would have wanted for a tampered request.
	body := alertBody("", "web01", "E", "major")
	good := hawkHeader(t, hawk.Credentials{ID: "hid", Key: hawkK}, "POST", "gw", 8977, "/alerta/alert", "application/json", body, 1700000000, "nonce1")
	want := hawkHeader(t, hawk.Credentials{ID: "hid", Key: hawkK}, "POST", "gw", 8977, "/alerta/alert", "application/json", []byte(`{"x": 1}`), 1700000000, "nonce2")
	forms = append(forms, between(want, `mac="`, `"`))

	var answers []answer
	for _, s := range secrets {
		b64 := base64.StdEncoding.EncodeToString([]byte(s))
		answers = append(answers,
			n.do("POST", "/alerta/alert", body, "X-API-Key", s+"x"),
			n.do("POST", "/alerta/alert", body, "Authorization", "Key "+b64),
			n.do("POST", "/alerta/alert?api-key="+url.QueryEscape(s+"y"), body),
			n.do("POST", "/alerta/alert", body, "Authorization", "Bearer "+s+"z"),
			n.do("POST", "/alerta/alert", body, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s+":"+s))),
			n.do("POST", "/alerta/alert", body, "Authorization", `Hawk id="`+s+`", ts="1700000000", nonce="n", mac="m"`),
			// Valid credentials, and the secret in the places an answer echoes.
			n.do("POST", "/alerta/alert", alertBody("", "r-"+s, "E-"+s, "major"), "X-API-Key", apiKey, alerta.HeaderRequestID, s),
			n.do("POST", "/alerta/alert", []byte(`{"resource": "`+s+`"}`), "X-API-Key", apiKey, alerta.HeaderRequestID, b64),
			n.do("POST", "/alerta/alert", body, "X-API-Key", apiKey, "Origin", s, alerta.HeaderLoop, "http://gw:8977/alerta"),
			n.do("PUT", "/alerta/alert/"+url.PathEscape(s)+"/action", []byte(`{"action": "ack"}`), "X-API-Key", apiKey),
			n.do("GET", "/alerta/alerts?"+url.QueryEscape(s)+"=1", nil, "X-API-Key", apiKey),
		)
	}
	// A Hawk request whose body was changed after signing: a MAC or hash mismatch.
	answers = append(answers, n.do("POST", "/alerta/alert", []byte(`{"x": 1}`), "Authorization", good))
	for _, a := range answers {
		text := string(a.body) + fmt.Sprint(a.header)
		if f, ok := containsAny(text, forms...); ok {
			t.Fatalf("an answer (%d) carries %q: %s", a.status, f, text)
		}
	}
	if f, ok := containsAny(n.logs.String(), forms...); ok {
		t.Fatalf("the log carries %q:\n%s", f, n.logs.String())
	}
}

// between returns the text of s between the first from and the next to.
func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}

// TestRefusedEvictionIsUndone: a new alert that evicted another and whose event
// the relay refused leaves the evicted alert in the book and the table.
func TestRefusedEvictionIsUndone(t *testing.T) {
	var refuse atomicBool
	c := config("http://localhost:8080")
	c.MaxAlerts = 2
	n := start(t, c, options{rec: []adaptertest.RecorderOption{adaptertest.RejectWhen(func(*adapters.Event, int) error {
		if refuse.get() {
			return errRefused
		}
		return nil
	})}})
	require.Equal(t, 201, n.do("POST", "/alert", alertBody("f1000000-0000-4000-8000-000000000000", "r1", "E", "major")).status)
	require.Equal(t, 201, n.do("POST", "/alert", alertBody("f2000000-0000-4000-8000-000000000000", "r2", "E", "major")).status)
	refuse.set(true)
	require.Equal(t, 503, n.do("POST", "/alert", alertBody("f3000000-0000-4000-8000-000000000000", "r3", "E", "major")).status)
	require.Equal(t, 2, n.src.Len())
	for _, id := range []string{"f1000000-0000-4000-8000-000000000000", "f2000000-0000-4000-8000-000000000000"} {
		require.Equal(t, 200, n.do("GET", "/alert/"+id, nil).status, id)
		require.NotNil(t, n.tab.Get(id), id)
	}
	require.Equal(t, 404, n.do("GET", "/alert/f3000000", nil).status)
	require.Len(t, n.tab.keys(), 2)
}

// atomicBool is a flag shared with a recorder's callback.
type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (b *atomicBool) get() bool  { b.mu.Lock(); defer b.mu.Unlock(); return b.v }
func (b *atomicBool) set(v bool) { b.mu.Lock(); b.v = v; b.mu.Unlock() }

// TestAlertHeartbeat: an alert whose event is Heartbeat becomes a heartbeat (Alerta's
// heartbeat plugin), published unless it looped, recorded either way.
func TestAlertHeartbeat(t *testing.T) {
	n := start(t, config("http://localhost:8080"), options{})
	a := n.do("POST", "/alert", []byte(`{"resource": "gw", "event": "Heartbeat", "origin": "site/2", "tags": ["t"], "timeout": 60}`))
	require.Equal(t, 202, a.status, "%s", a.body)
	a = n.do("POST", "/alert", []byte(`{"resource": "gw", "event": "Heartbeat", "origin": "site/3"}`), alerta.HeaderLoop, "http://localhost:8080")
	require.Equal(t, 202, a.status, "%s", a.body)
	evs := n.rec.Accepted()
	require.Len(t, evs, 1)
	require.Equal(t, adapters.KindHeartbeat, evs[0].Kind)
	require.Equal(t, "site/2", evs[0].Key)
	require.Contains(t, string(evs[0].Payload), `"tags": ["t"]`)
	require.Equal(t, 0, n.src.Len(), "no alert stored")
	hbs := n.do("GET", "/heartbeats", nil).json(t)
	require.EqualValues(t, 2, hbs["total"])
}
