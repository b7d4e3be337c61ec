package ingest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/ilert/ingest"
)

// documentedStatus are the answers README.md documents for the handler.
var documentedStatus = map[int]bool{
	http.StatusOK: true, http.StatusAccepted: true, http.StatusBadRequest: true, http.StatusUnauthorized: true,
	http.StatusNotFound: true, http.StatusMethodNotAllowed: true, http.StatusRequestEntityTooLarge: true,
	http.StatusInternalServerError: true, http.StatusServiceUnavailable: true,
}

// FuzzHandler sends arbitrary requests (method, request target, header lines, body;
// with or without a token configured, the pipeline accepting or refusing) to the
// ingest handler, parsed from the wire as net/http's server parses them. It must
// never panic, answer only documented status codes, and answer 2xx only for an
// event the pipeline accepted (one per 2xx, none otherwise), whose payload the ilert
// sink accepts.
func FuzzHandler(f *testing.F) {
	const ev = `{"apiKey":"il1api123","eventType":"ALERT","summary":"Server down","alertKey":"host-1"}`
	ct := "Content-Type: application/json"
	for _, s := range []struct {
		method, target, header, body string
		token, refuse                bool
	}{
		{"POST", "/api/events", ct, ev, false, false},
		{"POST", "/api/events", ct, ev, false, true},
		{"POST", "/api/events", ct + "\nAuthorization: Bearer tok", ev, true, false},
		{"POST", "/api/events", ct + "\nAuthorization: bearer  tok ", ev, true, false},
		{"POST", "/api/events", ct, ev, true, false},
		{"POST", "/api/events", "Content-Type: application/vnd.x+json; charset=utf-8", `{"integrationKey":"","eventType":"RESOLVE","summary":"s","priority":null,"images":[{"src":"x"}],"links":[{"href":"h"}],"customDetails":[1]}`, false, false},
		{"POST", "/api/events", ct, `{"integrationKey":"k","eventType":"alert","summary":"s"}`, false, false},
		{"POST", "/api/events", ct, `{"integrationKey":"k","apiKey":"k","eventType":"ALERT","summary":"s"}`, false, false},
		{"POST", "/api/events", ct, `{"integrationKey":"k","eventType":"ALERT","summary":"s","priority":"MEDIUM"}`, false, false},
		{"POST", "/api/events", ct, strings.Repeat(" ", 300) + ev, false, false},
		{"POST", "/api/events", ct + "\nTransfer-Encoding: chunked", "5\r\n{\"a\":\r\n0\r\n\r\n", false, false},
		{"POST", "/api/events", ct + "\nContent-Length: 100", ev, false, false},
		{"POST", "/api/events", "Content-Type: text/plain", ev, false, false},
		{"GET", "/api/events", "", "", false, false},
		{"POST", "/api/events/", ct, ev, false, false},
		{"POST", "/api//events", ct, ev, false, false},
		{"POST", "/api/./events", ct, ev, false, false},
		{"GET", "/api/heartbeats/il1hbt123abc", "", "", false, false},
		{"GET", "/api/heartbeats/il1hbt123abc", "", "", false, true},
		{"GET", "/api/heartbeats/a%2Fb", "", "", false, false},
		{"GET", "/api/heartbeats/", "", "", false, false},
		{"GET", "/api/heartbeats/a/b", "", "", false, false},
		{"GET", "/api/heartbeats/../events", "", "", false, false},
		{"HEAD", "/api/heartbeats/k", "", "", false, false},
		{"GET", "http://example/api/heartbeats/k?x=1", "", "", false, false},
		{"OPTIONS", "*", "", "", false, false},
		{"CONNECT", "example:443", "", "", false, false},
		{"GET", "/", "", "", false, false},
		{"GET", "/metrics", "", "", true, false},
	} {
		f.Add(s.method, s.target, s.header, []byte(s.body), s.token, s.refuse)
	}
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte, token, refuse bool) {
		var raw bytes.Buffer
		raw.WriteString(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n")
		hasLength := false
		for l := range strings.SplitSeq(header, "\n") {
			if l = strings.TrimRight(l, "\r"); l != "" {
				raw.WriteString(l + "\r\n")
				hasLength = hasLength || strings.HasPrefix(strings.ToLower(l), "content-length:") ||
					strings.HasPrefix(strings.ToLower(l), "transfer-encoding:")
			}
		}
		if !hasLength && len(body) > 0 {
			raw.WriteString("Content-Length: " + itoa(len(body)) + "\r\n")
		}
		raw.WriteString("\r\n")
		raw.Write(body)
		req, err := http.ReadRequest(bufio.NewReader(&raw))
		if err != nil {
			return // net/http's server answers this itself; the handler never sees it
		}
		req.RemoteAddr = "192.0.2.1:4711"

		rec := adaptertest.NewRecorder(adaptertest.RejectWhen(func(*adapters.Event, int) error {
			if refuse {
				return adaptertest.ErrRejected
			}
			return nil
		}))
		opts := ingest.Options{MaxBodyBytes: 256, PublishTimeout: time.Minute, Now: func() time.Time { return time.Unix(1700000000, 0) }}
		if token {
			opts.Token = "tok"
		}
		w := httptest.NewRecorder()
		ingest.New(opts, rec).ServeHTTP(w, req)

		status := w.Code
		if !documentedStatus[status] {
			t.Fatalf("%s %q answered %d, not a documented status (body %q)", method, target, status, w.Body.Bytes())
		}
		accepted := rec.Accepted()
		if status/100 != 2 {
			if len(accepted) > 0 {
				t.Fatalf("%s %q answered %d for an event the pipeline accepted", method, target, status)
			}
			return
		}
		if len(accepted) != 1 {
			t.Fatalf("%s %q answered %d with %d events accepted by the pipeline", method, target, status, len(accepted))
		}
		e := accepted[0]
		switch status {
		case http.StatusOK:
			if e.Kind != adapters.KindAlert || !bytes.Equal(w.Body.Bytes(), e.Payload) {
				t.Fatalf("200 answered %q for the %s event %q", w.Body.Bytes(), e.Kind, e.Payload)
			}
			if _, err := ilert.CheckEvent(e.Payload); err != nil {
				t.Fatalf("accepted an event the ilert sink refuses: %v: %q", err, e.Payload)
			}
		case http.StatusAccepted:
			var hb struct {
				IntegrationKey string `json:"integrationKey"`
			}
			if e.Kind != adapters.KindHeartbeat || json.Unmarshal(e.Payload, &hb) != nil || hb.IntegrationKey != e.Key || e.Key == "" {
				t.Fatalf("202 for the %s event %q with key %q", e.Kind, e.Payload, e.Key)
			}
		default:
			t.Fatalf("answered %d", status)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
