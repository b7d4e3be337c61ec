package alertatest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
)

// FuzzServeHTTP sends arbitrary requests through the fake's handler: it must never
// panic, always answer a JSON body (Alerta's envelope on errors), and never put a
// configured secret in it.
func FuzzServeHTTP(f *testing.F) {
	const secret = "fuzz-secret-key"
	cred := hawk.Credentials{ID: "hid", Key: secret}
	now := time.Unix(1700000000, 0)
	sig, _ := hawk.Header(cred, hawk.Request{Method: "POST", Host: "localhost", Port: 80, Resource: "/alert", ContentType: "application/json", Body: []byte(major)}, now.Unix(), "n")
	for _, c := range []struct{ method, target, authz, loop, body string }{
		{"POST", "/alert", "", "", major},
		{"POST", "/alert", sig, "", major},
		{"POST", "/alert", "Key " + secret, "http://localhost", major},
		{"PUT", "/alert/abc/action", "Basic dTpw", "", `{"action": "ack"}`},
		{"DELETE", "/alert/abc", "Bearer x", "x", ""},
		{"GET", "/alerts?status=open&sort-by=-severity&page=2", "", "", ""},
		{"GET", "/alert/" + strings.Repeat("a", 40), `Hawk id="hid", ts="1", nonce="n", mac="m"`, "", ""},
		{"POST", "/heartbeat", "", "", `{"origin": "o", "attributes": {"a": {"b": [1, 2.5, null]}}}`},
		{"POST", "/alert", "", "", `{"resource": "r", "event": "Heartbeat", "service": ["s"], "environment": "Production", "severity": "nope"}`},
		{"GET", "/heartbeats?origin=o", "", "", ""},
	} {
		f.Add(c.method, c.target, c.authz, c.loop, []byte(c.body))
	}
	s := New(Options{AuthRequired: true, Hawk: []hawk.Credentials{cred}, Now: func() time.Time { return now },
		APIKeys: []APIKey{{Key: secret, Scopes: []string{"admin"}}}, Users: []User{{Username: "u", Password: secret, Scopes: []string{"write"}}},
		Tokens: []Token{{Token: secret, Scopes: []string{"read"}}}, MaxAlerts: 100})
	s.addr = "127.0.0.1:1"
	f.Fuzz(func(t *testing.T, method, target, authz, loop string, body []byte) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		r, err := http.NewRequest(method, "http://localhost"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		r.RequestURI = target
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Alerta-Loop", loop)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		out := w.Body.Bytes()
		if !json.Valid(out) {
			t.Fatalf("%s %s: answer %d is not JSON: %q", method, target, w.Code, out)
		}
		if w.Code >= 400 {
			var env struct {
				Status string `json:"status"`
				Code   int    `json:"code"`
			}
			if json.Unmarshal(out, &env) != nil || env.Status != "error" || env.Code != w.Code {
				t.Fatalf("%s %s: answer %d is not Alerta's envelope: %s", method, target, w.Code, out)
			}
		}
		if bytes.Contains(out, []byte(secret)) && !bytes.Contains(body, []byte(secret)) && !strings.Contains(target, secret) {
			t.Fatalf("%s %s: the secret is in the answer: %s", method, target, out)
		}
	})
}
