package alertatest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
)

// answer is one answer of the fake.
type answer struct {
	code   int
	body   string
	header http.Header
}

// json decodes the answer's body.
func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(a.body), &m), a.body)
	return m
}

// do sends one request to the fake. Header "Host" sets the Host the client
// addresses.
func do(t *testing.T, s *Server, method, path string, hdr map[string]string, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, string(b), resp.Header}
}

const (
	major   = `{"resource": "web01", "event": "HttpError", "environment": "Production", "service": ["Web"], "severity": "major"}`
	warning = `{"resource": "web01", "event": "HttpError", "environment": "Production", "service": ["Web"], "severity": "warning"}`
)

// §7.1's setup: BASE_URL http://localhost:8080, PLUGINS ['forwarder'],
// AUTH_REQUIRED, the Hawk credentials of the test.
var (
	t71Hawk = hawk.Credentials{ID: "e3b8afc0-db18-4c51-865d-b95322742c5e", Key: "MDhjZGMyYTRkY2YyNjk1MTEyMWFlNmM3Y2UxZDU1ZjIK"}
	t71Opts = Options{BaseURL: "http://localhost:8080", Plugins: []string{PluginForwarder}, AuthRequired: true,
		Hawk: []hawk.Credentials{t71Hawk}, APIKeys: []APIKey{{Key: "demo-key", Scopes: []string{"admin"}}}}
)

// TestForwarderScenarios: §7.1 T1–T6 where they apply to the receiving server.
func TestForwarderScenarios(t *testing.T) {
	s := NewServer(t, t71Opts)
	key := map[string]string{"X-API-Key": "demo-key"}
	with := func(h map[string]string) map[string]string {
		m := map[string]string{"X-API-Key": "demo-key"}
		for k, v := range h {
			m[k] = v
		}
		return m
	}

	// T6: BASE_URL is used as configured, no trailing slash.
	require.Equal(t, "http://localhost:8080", s.BaseURL())

	// T1: an alert forwarded by another server is stored.
	a := do(t, s, "POST", "/alert", with(map[string]string{alerta.HeaderLoop: "http://localhost:5000"}), major)
	require.Equal(t, 201, a.code, a.body)
	id := a.json(t)["id"].(string)
	require.Equal(t, "ok", a.json(t)["status"])

	// T4: this server is in the loop header: 202, exact message, nothing stored.
	n := len(s.Alerts())
	a = do(t, s, "POST", "/alert", with(map[string]string{"Origin": "http://localhost:5000",
		alerta.HeaderLoop: "http://localhost:8080,http://localhost:5000"}), `{"resource": "r4", "event": "e4", "environment": "Production", "service": ["S"]}`)
	require.Equal(t, 202, a.code)
	require.Equal(t, `{"message": "Alert forwarded by http://localhost:5000 already processed by http://localhost:8080", "status": "ok"}`, a.body)
	require.Len(t, s.Alerts(), n)

	// Alerta's check is a substring test: a longer port still counts, and a
	// forwarder's request without Origin names "(unknown)".
	a = do(t, s, "POST", "/alert", with(map[string]string{alerta.HeaderLoop: "http://localhost:80801"}), major)
	require.Equal(t, 202, a.code)
	require.Equal(t, `{"message": "Alert forwarded by (unknown) already processed by http://localhost:8080", "status": "ok"}`, a.body)

	// T5: every destination is in the header but this server is not: stored.
	a = do(t, s, "POST", "/alert", with(map[string]string{alerta.HeaderLoop: "http://localhost:9000,http://localhost:9001,http://localhost:9002,http://localhost:9003"}),
		`{"resource": "r5", "event": "e5", "environment": "Production", "service": ["S"]}`)
	require.Equal(t, 201, a.code, a.body)
	_, ok := s.Alert(a.json(t)["id"].(string))
	require.True(t, ok)

	// T2: an action; T3: a delete.
	a = do(t, s, "PUT", "/alert/"+id+"/action", key, `{"action": "ack"}`)
	require.Equal(t, 200, a.code, a.body)
	require.Equal(t, `{"status": "ok"}`, a.body)
	st, ok := s.Alert(id)
	require.True(t, ok)
	require.Equal(t, "ack", st.Status)
	a = do(t, s, "DELETE", "/alert/"+id, key, "")
	require.Equal(t, 200, a.code, a.body)
	_, ok = s.Alert(id)
	require.False(t, ok)
}

// TestActionLoop: an action's loop answer comes after the body check (400) and the
// lookup (404), and changes nothing.
func TestActionLoop(t *testing.T) {
	s := NewServer(t, Options{BaseURL: "http://localhost:8080"})
	a := do(t, s, "POST", "/alert", nil, major)
	require.Equal(t, 201, a.code, a.body)
	id := a.json(t)["id"].(string)
	loop := map[string]string{alerta.HeaderLoop: "http://localhost:8080"}

	a = do(t, s, "PUT", "/alert/"+id+"/action", loop, `{"text": "no action"}`)
	require.Equal(t, 400, a.code)
	require.Equal(t, "must supply 'action' as json data", a.json(t)["message"])
	a = do(t, s, "PUT", "/alert/nope/action", loop, `{"action": "ack"}`)
	require.Equal(t, 404, a.code)
	require.Equal(t, "not found", a.json(t)["message"])
	a = do(t, s, "PUT", "/alert/"+id+"/action", loop, `{"action": "ack"}`)
	require.Equal(t, 202, a.code)
	require.Equal(t, `{"message": "Action ack forwarded by (unknown) already processed by http://localhost:8080", "status": "ok"}`, a.body)
	st, _ := s.Alert(id)
	require.Equal(t, "open", st.Status)

	a = do(t, s, "PUT", "/alert/"+id+"/action", nil, `{"action": "ack"}`)
	require.Equal(t, 200, a.code)
	a = do(t, s, "PUT", "/alert/"+id+"/action", nil, `{"action": "ack"}`)
	require.Equal(t, 409, a.code, a.body)
}

// TestDeleteLoop: Alerta's delete plugin raises on a loop: 500 with this exact
// body, the alert kept; with PLUGINS_RAISE_ON_ERROR off it is deleted.
func TestDeleteLoop(t *testing.T) {
	s := NewServer(t, Options{BaseURL: "http://localhost:8080"})
	a := do(t, s, "POST", "/alert", nil, major)
	id := a.json(t)["id"].(string)
	hdr := map[string]string{alerta.HeaderLoop: "http://localhost:8080", alerta.HeaderRequestID: "rid-1"}
	a = do(t, s, "DELETE", "/alert/nope", hdr, "")
	require.Equal(t, 404, a.code)
	a = do(t, s, "DELETE", "/alert/"+id, hdr, "")
	require.Equal(t, 500, a.code)
	require.Equal(t, `{"code": 500, "errors": null, "message": "Error while running delete plugin 'alerta.plugins.forwarder': Delete forwarded by (unknown) already processed by http://localhost:8080", "requestId": "rid-1", "status": "error"}`, a.body)
	require.Equal(t, "rid-1", a.header.Get(alerta.HeaderRequestID))
	_, ok := s.Alert(id)
	require.True(t, ok, "the alert survives a looped delete")

	s = NewServer(t, Options{BaseURL: "http://localhost:8080", PluginsNoRaise: true})
	id = do(t, s, "POST", "/alert", nil, major).json(t)["id"].(string)
	a = do(t, s, "DELETE", "/alert/"+id, hdr, "")
	require.Equal(t, 200, a.code, a.body)
	_, ok = s.Alert(id)
	require.False(t, ok)
}

// TestPluginOrder: validation, then remote_ip, reject, heartbeat and forwarder in
// PLUGINS order.
func TestPluginOrder(t *testing.T) {
	s := NewServer(t, Options{})
	loop := map[string]string{alerta.HeaderLoop: s.BaseURL()}
	for _, tc := range []struct {
		name, body string
		hdr        map[string]string
		code       int
		msg        string
	}{
		{"validation before the loop", `{"event": "e", "environment": "Production", "service": ["S"]}`, loop, 400, `Missing mandatory value for "resource"`},
		{"reject before the loop", `{"resource": "r", "event": "e", "environment": "Staging", "service": ["S"]}`, loop, 403, "[POLICY] Alert environment does not match one of Production, Development"},
		{"a service is required", `{"resource": "r", "event": "e", "environment": "Production"}`, nil, 403, "[POLICY] Alert must define a service"},
		{"heartbeat before the loop", `{"resource": "r", "event": "Heartbeat", "environment": "Production", "service": ["S"], "origin": "gw1"}`, loop, 202, "Alert converted to Heartbeat"},
		{"loop", `{"resource": "r", "event": "e", "environment": "Production", "service": ["S"]}`, loop, 202, "Alert forwarded by (unknown) already processed by " + s.BaseURL()},
		{"severity after the plugins", `{"resource": "r", "event": "e", "environment": "Production", "service": ["S"], "severity": "bad"}`, loop, 202, "already processed"},
		{"bad severity", `{"resource": "r", "event": "e", "environment": "Production", "service": ["S"], "severity": "bad"}`, nil, 500, "Severity (bad) is not one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, s, "POST", "/alert", tc.hdr, tc.body)
			require.Equal(t, tc.code, a.code, a.body)
			require.Contains(t, a.json(t)["message"], tc.msg)
			if tc.code == 202 && strings.Contains(tc.msg, "Heartbeat") {
				require.NotEmpty(t, a.json(t)["id"])
			}
		})
	}
	a := do(t, s, "GET", "/heartbeats", nil, "")
	require.Equal(t, 200, a.code)
	require.EqualValues(t, 1, a.json(t)["total"])
	require.Empty(t, s.Alerts())

	// remote_ip: the client's address lands in attributes.ip, other keys kept.
	a = do(t, s, "POST", "/alert", nil, `{"resource": "r", "event": "e", "environment": "Production", "service": ["S"], "attributes": {"region": "EU", "ip": "10.0.0.1"}}`)
	require.Equal(t, 201, a.code, a.body)
	attrs := a.json(t)["alert"].(map[string]any)["attributes"]
	require.Equal(t, map[string]any{"region": "EU", "ip": "127.0.0.1"}, attrs)
}

// TestLookup: GET /alert/{id} resolves a prefix of the id or of lastReceiveId (a
// duplicate's id), case-insensitively.
func TestLookup(t *testing.T) {
	s := NewServer(t, Options{})
	first := "2f445c96-32f9-43b1-b090-27a77f47b1b1"
	dup := "b528c6f7-0925-4f6d-b930-fa6c0bba51dc"
	a := do(t, s, "POST", "/alert", nil, strings.Replace(major, "{", `{"id": "`+first+`", `, 1))
	require.Equal(t, 201, a.code, a.body)
	a = do(t, s, "POST", "/alert", nil, strings.Replace(major, "{", `{"id": "`+dup+`", `, 1))
	require.Equal(t, 201, a.code, a.body)
	require.Equal(t, first, a.json(t)["id"], "a duplicate keeps the stored id")
	alert := a.json(t)["alert"].(map[string]any)
	require.Equal(t, dup, alert["lastReceiveId"])
	require.EqualValues(t, 1, alert["duplicateCount"])

	for _, ref := range []string{first, first[:8], strings.ToUpper(first[:8]), dup, dup[:8]} {
		a := do(t, s, "GET", "/alert/"+ref, nil, "")
		require.Equal(t, 200, a.code, ref)
		m := a.json(t)
		require.EqualValues(t, 1, m["total"])
		require.Equal(t, first, m["alert"].(map[string]any)["id"], ref)
		require.Equal(t, s.BaseURL()+"/alert/"+first, m["alert"].(map[string]any)["href"])
	}
	require.Equal(t, 404, do(t, s, "GET", "/alert/ffffffff", nil, "").code)

	a = do(t, s, "GET", "/alerts", nil, "")
	require.Equal(t, 200, a.code, a.body)
	require.EqualValues(t, 1, a.json(t)["total"])
}

// TestAuth: §4.1's order and §7.2's cases.
func TestAuth(t *testing.T) {
	s := NewServer(t, Options{AuthRequired: true, DeleteScopes: []string{"delete:alerts"},
		APIKeys: []APIKey{
			{Key: "ro-key", Scopes: []string{"read"}},
			{Key: "rw-key", Scopes: []string{"read", "write"}},
			{Key: "del-key", Scopes: []string{"read", "write", "delete:alerts"}},
		},
		Users:  []User{{Username: "fed@example.com", Password: "pa55w0rd", Scopes: []string{"read"}}, {Username: "w", Password: "p", Scopes: []string{"write"}}},
		Tokens: []Token{{Token: "bearer-token", Scopes: []string{"write"}}},
	})
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	id := do(t, s, "POST", "/alert", map[string]string{"X-API-Key": "rw-key"}, major).json(t)["id"].(string)
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		code               int
		msg                string
		wwwAuth            bool
	}{
		{"no auth", "GET", "/alerts", nil, 401, "Missing authorization API Key or Bearer Token", false},
		{"X-API-Key", "GET", "/alerts", map[string]string{"X-API-Key": "ro-key"}, 200, "", false},
		{"Authorization Key", "GET", "/alerts", map[string]string{"Authorization": "Key ro-key"}, 200, "", false},
		{"api-key query", "GET", "/alerts?api-key=ro-key", nil, 200, "", false},
		{"readonly key writes", "POST", "/alert", map[string]string{"X-API-Key": "ro-key"}, 403, "Missing required scope: write:alerts", false},
		{"invalid key", "GET", "/alerts", map[string]string{"X-API-Key": "nope"}, 401, "API key parameter '<redacted>' is invalid", false},
		{"key before hawk", "GET", "/alerts", map[string]string{"X-API-Key": "nope", "Authorization": `Hawk id="x", ts="1", nonce="n", mac="m"`}, 401, "API key parameter", false},
		{"read-write key deletes", "DELETE", "/alert/" + id, map[string]string{"X-API-Key": "rw-key"}, 403, "Missing required scope: delete:alerts", false},
		{"lowercase hawk falls through", "GET", "/alerts", map[string]string{"Authorization": `hawk id="x", ts="1", nonce="n", mac="m"`}, 401, "Missing authorization API Key or Bearer Token", false},
		{"bearer", "GET", "/alerts", map[string]string{"Authorization": "Bearer bearer-token"}, 200, "", false},
		{"bad bearer", "GET", "/alerts", map[string]string{"Authorization": "Bearer garbage"}, 401, "Token is invalid", false},
		{"basic", "GET", "/alerts", map[string]string{"Authorization": basic("fed@example.com", "pa55w0rd")}, 200, "", false},
		{"basic lacks scope", "POST", "/alert", map[string]string{"Authorization": basic("fed@example.com", "pa55w0rd")}, 403, "Missing required scope: write:alerts", true},
		{"basic wrong password", "GET", "/alerts", map[string]string{"Authorization": basic("fed@example.com", "wrong")}, 401, "Authorization required", true},
		{"basic colon in password", "GET", "/alerts", map[string]string{"Authorization": basic("fed@example.com", "pa:55")}, 400, "Invalid credentials", true},
		{"key with delete scope deletes", "DELETE", "/alert/" + id, map[string]string{"X-API-Key": "del-key"}, 200, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = major
			}
			a := do(t, s, tc.method, tc.path, tc.hdr, body)
			require.Equal(t, tc.code, a.code, a.body)
			if tc.msg != "" {
				require.Contains(t, a.json(t)["message"], tc.msg)
				require.Equal(t, "error", a.json(t)["status"])
			}
			if tc.wwwAuth {
				require.Equal(t, "Basic realm=Alerta", a.header.Get("WWW-Authenticate"))
			} else {
				require.Empty(t, a.header.Get("WWW-Authenticate"))
			}
		})
	}

	// Without AUTH_REQUIRED no credentials pass, but sent credentials are checked.
	open := NewServer(t, Options{APIKeys: []APIKey{{Key: "k", Scopes: []string{"read"}}}})
	require.Equal(t, 201, do(t, open, "POST", "/alert", nil, major).code)
	require.Equal(t, 401, do(t, open, "GET", "/alerts", map[string]string{"X-API-Key": "bad"}, "").code)
	require.Equal(t, 403, do(t, open, "POST", "/alert", map[string]string{"X-API-Key": "k"}, major).code)
}

// hawkAt signs method and path for host, with body and content type, at ts.
func hawkAt(t *testing.T, c hawk.Credentials, method, host string, port int, resource, ct, body string, ts int64, nonce string) string {
	t.Helper()
	h, err := hawk.Header(c, hawk.Request{Method: method, Host: host, Port: port, Resource: resource, ContentType: ct, Body: []byte(body)}, ts, nonce)
	require.NoError(t, err)
	return h
}

// TestHawk: §4.2's known-answer vectors, signed with the hawk package, are
// accepted through HTTP; skew, replay, the DELETE rules and MAC errors as Alerta —
// except that no answer carries the expected MAC or the secret.
func TestHawk(t *testing.T) {
	const ts = 1700000000
	now := time.Unix(ts, 0)
	s := NewServer(t, Options{AuthRequired: true, Prefix: "", Hawk: []hawk.Credentials{t71Hawk}, ProxyFix: true,
		Now: func() time.Time { return now }, APIKeys: []APIKey{{Key: "admin-key", Scopes: []string{"admin"}}}})
	const alertID = "b528c6f7-0925-4f6d-b930-fa6c0bba51dc"
	a := do(t, s, "POST", "/alert", map[string]string{"X-API-Key": "admin-key"}, strings.Replace(warning, "{", `{"id": "`+alertID+`", `, 1))
	require.Equal(t, 201, a.code, a.body)

	// Row 1: the header Alerta's forwarder would send, byte for byte.
	row1 := `Hawk mac="HZ0JCl5gSqVs8vhYpyeq14exwl7g3mTAe2pPU0SVjjA=", hash="rP43Xs3RKnFF9QrTmrXGzaN8lAXrMKFrk5o08pWCOhs=", id="e3b8afc0-db18-4c51-865d-b95322742c5e", ts="1700000000", nonce="Ab3dE_"`
	require.Equal(t, row1, hawkAt(t, t71Hawk, "POST", "localhost", 9001, "/alert", "application/json", major, ts, "Ab3dE_"))
	a = do(t, s, "POST", "/alert", map[string]string{"Host": "localhost:9001", "Authorization": row1}, major)
	require.Equal(t, 201, a.code, a.body)
	// Alerta keeps no nonces: the same header passes again.
	a = do(t, s, "POST", "/alert", map[string]string{"Host": "localhost:9001", "Authorization": row1}, major)
	require.Equal(t, 201, a.code, a.body)

	// Row 2: the action.
	action := `{"action": "ack", "text": "ack operator action", "timeout": null}`
	h := hawkAt(t, t71Hawk, "PUT", "localhost", 9001, "/alert/"+alertID+"/action", "application/json", action, ts, "Ab3dE_")
	require.Contains(t, h, `mac="hwGnl0dsfFckhDjotSE0/lzgXp2/X3OkE2W7FgqeOhc="`)
	a = do(t, s, "PUT", "/alert/"+alertID+"/action", map[string]string{"Host": "localhost:9001", "Authorization": h}, action)
	require.Equal(t, 200, a.code, a.body)

	// Row 4: a GET with a query, port 80 by scheme, signed over "" and application/json.
	h = hawkAt(t, t71Hawk, "GET", "localhost", 80, "/alerts?status=open&page-size=1", "application/json", "", ts, "Ab3dE_")
	require.Contains(t, h, `mac="Yo4n6UdFh/dkyiv1Z+T3roQSSsDPbq8ArT/30yUoWEY="`)
	a = do(t, s, "GET", "/alerts?status=open&page-size=1", map[string]string{"Host": "localhost", "Authorization": h, "Content-Type": "application/json"}, "")
	require.Equal(t, 200, a.code, a.body)

	// Row 3 shape, behind a TLS proxy: a DELETE hashed over ("application/json", "").
	s2 := NewServer(t, Options{AuthRequired: true, Prefix: "/api", Hawk: []hawk.Credentials{t71Hawk}, ProxyFix: true, Now: func() time.Time { return now }})
	withID := strings.Replace(warning, "{", `{"id": "`+alertID+`", `, 1)
	a = do(t, s2, "POST", "/api/alert", map[string]string{"Host": "alerta.example.com", "X-Forwarded-Proto": "https",
		"Authorization": hawkAt(t, t71Hawk, "POST", "alerta.example.com", 443, "/api/alert", "application/json", withID, ts, "x2")}, withID)
	require.Equal(t, 201, a.code, a.body)
	h = hawkAt(t, t71Hawk, "DELETE", "alerta.example.com", 443, "/api/alert/"+alertID, "application/json", "", ts, "Ab3dE_")
	require.Contains(t, h, `mac="Z8yS1ihn82oNxQg8RID5z9R79WJdlWpg3ux9x0zc+zg="`)
	a = do(t, s2, "DELETE", "/api/alert/"+alertID, map[string]string{"Host": "alerta.example.com", "X-Forwarded-Proto": "https", "Authorization": h, "Content-Type": "application/json"}, "")
	require.Equal(t, 200, a.code, a.body)

	// §4.2 step 3: no hash attribute passes only without body and Content-Type.
	id := do(t, s, "POST", "/alert", map[string]string{"X-API-Key": "admin-key"}, major).json(t)["id"].(string)
	unhashed := func(nonce, ct string) string {
		r := hawk.Request{Method: "DELETE", Host: "localhost", Port: 9001, Resource: "/alert/" + id, ContentType: ct}
		mac, err := hawk.MAC(t71Hawk, hawk.Normalized(ts, nonce, r, "", ""))
		require.NoError(t, err)
		return fmt.Sprintf(`Hawk mac="%s", id="%s", ts="%d", nonce="%s"`, mac, t71Hawk.ID, ts, nonce)
	}
	a = do(t, s, "DELETE", "/alert/"+id, map[string]string{"Host": "localhost:9001", "Authorization": unhashed("d1", "application/json"), "Content-Type": "application/json"}, "")
	require.Equal(t, 401, a.code, a.body)
	require.Equal(t, "Our hash b'NVuBm+XMyya3Tq4EhpZ0cQWjVUyIA8sKnySkKDOIM4M=' (sha256) did not match theirs ", a.json(t)["message"])
	a = do(t, s, "DELETE", "/alert/"+id, map[string]string{"Host": "localhost:9001", "Authorization": unhashed("d2", "")}, "")
	require.Equal(t, 200, a.code, a.body)

	// Skew: ±299 s passes, ±301 s does not.
	for _, tc := range []struct {
		skew int64
		code int
	}{{-299, 201}, {299, 201}, {-301, 401}, {301, 401}} {
		h := hawkAt(t, t71Hawk, "POST", "localhost", 9001, "/alert", "application/json", major, ts+tc.skew, "s")
		a := do(t, s, "POST", "/alert", map[string]string{"Host": "localhost:9001", "Authorization": h}, major)
		require.Equal(t, tc.code, a.code, "skew %d: %s", tc.skew, a.body)
		if tc.code == 401 {
			require.Equal(t, fmt.Sprintf("token with UTC timestamp %d has expired; it was compared to %d", ts+tc.skew, ts), a.json(t)["message"])
		}
	}

	// Unknown id, MAC mismatch (a wrong key, another algorithm, a signed port that
	// is not the one addressed): 401, and never the expected MAC or the secret.
	other := t71Hawk
	other.ID = "nobody"
	a = do(t, s, "POST", "/alert", map[string]string{"Host": "localhost:9001", "Authorization": hawkAt(t, other, "POST", "localhost", 9001, "/alert", "application/json", major, ts, "u")}, major)
	require.Equal(t, 401, a.code)
	require.Equal(t, "Could not find credentials for ID nobody", a.json(t)["message"])
	wrong := t71Hawk
	wrong.Key = "not the key"
	sha512 := t71Hawk
	sha512.Algorithm = "sha512"
	for _, hdr := range []map[string]string{
		{"Host": "localhost:9001", "Authorization": hawkAt(t, wrong, "POST", "localhost", 9001, "/alert", "application/json", major, ts, "m1")},
		{"Host": "localhost:9001", "Authorization": hawkAt(t, sha512, "POST", "localhost", 9001, "/alert", "application/json", major, ts, "m2")},
		{"Host": "localhost:18081", "Authorization": hawkAt(t, t71Hawk, "POST", "localhost", 80, "/alert", "application/json", major, ts, "m3")},
	} {
		a := do(t, s, "POST", "/alert", hdr, major)
		require.Equal(t, 401, a.code, a.body)
		require.Equal(t, "MACs do not match", a.json(t)["message"])
		for _, secret := range []string{t71Hawk.Key, base64.StdEncoding.EncodeToString([]byte(t71Hawk.Key)), "HZ0JCl5gSqVs8vhYpyeq14exwl7g3mTAe2pPU0SVjjA="} {
			require.NotContains(t, a.body, secret)
		}
	}
	a = do(t, s, "POST", "/alert", map[string]string{"Host": "localhost:9001", "Authorization": `Hawk id="x", foo="y"`}, major)
	require.Equal(t, 401, a.code)
	require.Equal(t, "Unknown Hawk key 'foo' when parsing header", a.json(t)["message"])

	// The replay cache, when asked for.
	s3 := NewServer(t, Options{AuthRequired: true, Hawk: []hawk.Credentials{t71Hawk}, HawkReplayCache: true, Now: func() time.Time { return now }})
	require.Equal(t, 201, do(t, s3, "POST", "/alert", map[string]string{"Host": "localhost:9001", "Authorization": row1}, major).code)
	a = do(t, s3, "POST", "/alert", map[string]string{"Host": "localhost:9001", "Authorization": row1}, major)
	require.Equal(t, 401, a.code)
	require.Contains(t, a.json(t)["message"], "has already been processed")
}

// TestSecretsNeverEchoed: credentials sent to the fake, right or wrong, never come
// back in an answer, in clear or in base64.
func TestSecretsNeverEchoed(t *testing.T) {
	const key = "sk-live-0123456789abcdef"
	s := NewServer(t, Options{AuthRequired: true, APIKeys: []APIKey{{Key: key, Scopes: []string{"read"}}},
		Users: []User{{Username: "u", Password: key}}, Tokens: []Token{{Token: key}}})
	near := key + "x"
	for _, hdr := range []map[string]string{
		{"X-API-Key": near}, {"Authorization": "Key " + near}, {"X-API-Key": key},
		{"Authorization": "Bearer " + near}, {"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+near))},
	} {
		for _, p := range []string{"/alert", "/alerts", "/alerts?api-key=" + near} {
			a := do(t, s, "POST", p, hdr, major)
			// Refused (a wrong credential, or the read scope for a write) or a
			// wrong method: each answer is an error envelope the credential could be in.
			require.Contains(t, []int{401, 403, 405}, a.code, "%v %s: %s", hdr, p, a.body)
			require.Equal(t, "error", a.json(t)["status"], "%v %s", hdr, p)
			for _, secret := range []string{key, near, base64.StdEncoding.EncodeToString([]byte(key)), base64.StdEncoding.EncodeToString([]byte("u:" + near))} {
				require.NotContains(t, a.body, secret, "%v %s", hdr, p)
				for k, v := range a.header {
					require.NotContains(t, strings.Join(v, " "), secret, k)
				}
			}
		}
	}
}

// TestRecording: every request is recorded with its answer; WaitFor and Count.
func TestRecording(t *testing.T) {
	s := NewServer(t, Options{Prefix: "/api"})
	require.Equal(t, s.URL()+"/api", s.BaseURL())
	a := do(t, s, "POST", "/api/alert?x=1", map[string]string{alerta.HeaderRequestID: "req-7", alerta.HeaderLoop: "http://elsewhere"}, major)
	require.Equal(t, 201, a.code, a.body)
	require.Equal(t, "req-7", a.header.Get(alerta.HeaderRequestID))
	a = do(t, s, "GET", "/alert", nil, "")
	require.Equal(t, 404, a.code, "outside the prefix")
	a = do(t, s, "GET", "/api/alert", nil, "")
	require.Equal(t, 405, a.code)
	require.NotEmpty(t, a.header.Get(alerta.HeaderRequestID), "a request id is made when none is sent")
	require.Equal(t, a.header.Get(alerta.HeaderRequestID), a.json(t)["requestId"])

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reqs, err := s.WaitFor(ctx, 3)
	require.NoError(t, err)
	require.Len(t, reqs, 3)
	r := reqs[0]
	require.Equal(t, "POST", r.Method)
	require.Equal(t, "/api/alert", r.Path)
	require.Equal(t, "x=1", r.Query)
	require.Equal(t, major, string(r.Body))
	require.Equal(t, "http://elsewhere", r.Header.Get(alerta.HeaderLoop))
	require.Equal(t, "req-7", r.RequestID)
	require.Equal(t, 201, r.Status)
	require.False(t, r.Time.IsZero())
	require.Equal(t, 1, s.Count("POST", "/api/alert"))
	require.Equal(t, 2, s.Count("GET", "*"))
	require.Equal(t, 3, s.Count("", "*"))

	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	_, err = s.WaitFor(short, 4)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	s.SetRecord(false)
	require.Equal(t, 201, do(t, s, "POST", "/api/alert", nil, major).code)
	require.Len(t, s.Requests(), 3, "not recorded")
	s.SetRecord(true)

	big := `{"resource": "` + strings.Repeat("a", 2<<20) + `"}`
	a = do(t, s, "POST", "/api/alert", nil, big)
	require.Equal(t, 413, a.code)
	reqs = s.Requests()
	require.Len(t, reqs[len(reqs)-1].Body, 1<<20, "the record is bounded too")
}

// TestFaults: FailNext, FailPath, DropNext, SetDown (refused and reset), SetDelay
// and Reset.
func TestFaults(t *testing.T) {
	s := NewServer(t, Options{})
	s.FailNext(2, 503)
	for range 2 {
		a := do(t, s, "POST", "/alert", nil, major)
		require.Equal(t, 503, a.code)
		require.Equal(t, "injected failure", a.json(t)["message"])
	}
	a := do(t, s, "POST", "/alert", nil, major)
	require.Equal(t, 201, a.code)
	id := a.json(t)["id"].(string)

	s.FailPath("/alert/*/action", 1, 429)
	require.Equal(t, 201, do(t, s, "POST", "/alert", nil, major).code, "another path is not failed")
	require.Equal(t, 429, do(t, s, "PUT", "/alert/"+id+"/action", nil, `{"action": "ack"}`).code)
	require.Equal(t, 200, do(t, s, "PUT", "/alert/"+id+"/action", nil, `{"action": "ack"}`).code)

	client := &http.Client{Timeout: 5 * time.Second}
	post := func() error {
		resp, err := client.Post(s.URL()+"/alert", "application/json", strings.NewReader(major))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	s.DropNext("/alert", 1)
	require.Error(t, post())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.WaitMatch(ctx, 1, func(r Request) bool { return r.Status == Dropped })
	require.NoError(t, err)
	require.NoError(t, post())

	url := s.URL()
	require.NoError(t, s.SetDown(true))
	require.ErrorContains(t, post(), "refused")
	require.NoError(t, s.SetDown(false))
	require.Equal(t, url, s.URL())
	require.NoError(t, post())

	// Reset: a re-created target has forgotten the alert.
	s.Reset()
	require.Empty(t, s.Alerts())
	a = do(t, s, "PUT", "/alert/"+id+"/action", nil, `{"action": "ack"}`)
	require.Equal(t, 404, a.code)

	s.SetDelay(time.Minute)
	impatient := &http.Client{Timeout: 50 * time.Millisecond}
	_, err = impatient.Post(s.URL()+"/alert", "application/json", strings.NewReader(major))
	require.Error(t, err)
	s.SetDelay(0)
	require.NoError(t, post())

	r := NewServer(t, Options{DownResets: true})
	require.NoError(t, r.SetDown(true))
	_, err = client.Post(r.URL()+"/alert", "application/json", strings.NewReader(major))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "refused")
	require.NoError(t, r.SetDown(false))
	resp, err := client.Post(r.URL()+"/alert", "application/json", strings.NewReader(major))
	require.NoError(t, err)
	resp.Body.Close()
}

// TestHeartbeat: POST /heartbeat upserts on origin, GET /heartbeats lists; no
// loop check.
func TestHeartbeat(t *testing.T) {
	s := NewServer(t, Options{})
	loop := map[string]string{alerta.HeaderLoop: s.BaseURL()}
	var id string
	for range 2 {
		a := do(t, s, "POST", "/heartbeat", loop, `{"origin": "gw1", "tags": [], "attributes": {}, "timeout": 120}`)
		require.Equal(t, 201, a.code, a.body)
		m := a.json(t)
		require.Equal(t, "ok", m["status"])
		require.Equal(t, "gw1", m["heartbeat"].(map[string]any)["origin"])
		if id == "" {
			id = m["id"].(string)
		}
		require.Equal(t, id, m["id"], "an upsert on (origin, customer)")
	}
	a := do(t, s, "GET", "/heartbeats", nil, "")
	require.Equal(t, 200, a.code)
	require.EqualValues(t, 1, a.json(t)["total"])
}

// TestSetAttribute keeps the key order as Python's dict.update.
func TestSetAttribute(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, `{"ip":"1.2.3.4"}`},
		{`{"b": 1, "a": {"x": [1]}}`, `{"b":1,"a":{"x": [1]},"ip":"1.2.3.4"}`},
		{`{"ip": "9.9.9.9", "a": 1}`, `{"ip":"1.2.3.4","a":1}`},
		{`not json`, `not json`},
	} {
		require.Equal(t, tc.want, string(setAttribute([]byte(tc.in), "ip", "1.2.3.4")), tc.in)
	}
	require.Equal(t, `{"a":"\u00e9\ud83d\ude00"}`, string(asciiJSON([]byte(`{"a":"é😀"}`))))
}

// TestHMACAuth is Alerta's test_hmac_auth (§7.2): a Hawk-signed GET /alerts over
// ("", application/json), then a Hawk-signed POST /alert.
func TestHMACAuth(t *testing.T) {
	cred := hawk.Credentials{ID: "cc3b7f30-360e-47bc-8abb-c0a27625e134", Key: "MjM0ODU4NGI1YWQxZWMyYzcxNjAxZDA4MzczNGQ1M2IK", Algorithm: "sha256"}
	s := NewServer(t, Options{AuthRequired: true, Hawk: []hawk.Credentials{cred}})
	ts := time.Now().Unix()
	a := do(t, s, "GET", "/alerts", map[string]string{"Host": "localhost", "Content-Type": "application/json",
		"Authorization": hawkAt(t, cred, "GET", "localhost", 80, "/alerts", "application/json", "", ts, hawk.Nonce())}, "")
	require.Equal(t, 200, a.code, a.body)
	body := `{"resource": "foo", "event": "Foo", "environment": "Production", "service": ["Svc"]}`
	a = do(t, s, "POST", "/alert", map[string]string{"Host": "localhost",
		"Authorization": hawkAt(t, cred, "POST", "localhost", 80, "/alert", "application/json", body, ts, hawk.Nonce())}, body)
	require.Equal(t, 201, a.code, a.body)
	require.Equal(t, "Foo", a.json(t)["alert"].(map[string]any)["event"])
}
