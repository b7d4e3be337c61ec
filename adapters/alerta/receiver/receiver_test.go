package receiver_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	"github.com/edgerelay/edgerelay/adapters/alerta/receiver"
)

// The spec's Hawk credentials (§4.2, §7.1).
var specHawk = hawk.Credentials{ID: "e3b8afc0-db18-4c51-865d-b95322742c5e", Key: "MDhjZGMyYTRkY2YyNjk1MTEyMWFlNmM3Y2UxZDU1ZjIK"}

func hawkConfig(base string) receiver.Config {
	c := config(base)
	c.Auth.Hawk = []receiver.HawkCredential{{ID: specHawk.ID, Key: "MDhjZGMyYTRkY2YyNjk1MTEyMWFlNmM3Y2UxZDU1ZjIK"}}
	c.Auth.APIKeys = []adaptersSecret{"demo-key-for-setup"}
	return c
}

// TestHawkKnownAnswers sends the four requests of §4.2's known-answer table, with
// their exact headers, through the HTTP path: the receiver verifies them against
// base_url's host and port, wherever the test server listens.
func TestHawkKnownAnswers(t *testing.T) {
	const alertID = "b528c6f7-0925-4f6d-b930-fa6c0bba51dc"
	for _, tc := range []struct {
		name, base, method, path, body, mac, hash string
		want                                      int
	}{
		{"post", "http://localhost:9001", http.MethodPost, "/alert",
			`{"resource": "web01", "event": "HttpError", "environment": "Production", "service": ["Web"], "severity": "major"}`,
			"HZ0JCl5gSqVs8vhYpyeq14exwl7g3mTAe2pPU0SVjjA=", "rP43Xs3RKnFF9QrTmrXGzaN8lAXrMKFrk5o08pWCOhs=", http.StatusCreated},
		{"action", "http://localhost:9001", http.MethodPut, "/alert/" + alertID + "/action",
			`{"action": "ack", "text": "ack operator action", "timeout": null}`,
			"hwGnl0dsfFckhDjotSE0/lzgXp2/X3OkE2W7FgqeOhc=", "9hdumuH6HQrxCRanMBeAQiwBtC8y1hmu/2TpEcOD5fY=", http.StatusOK},
		{"delete", "https://alerta.example.com/api", http.MethodDelete, "/api/alert/" + alertID, "",
			"Z8yS1ihn82oNxQg8RID5z9R79WJdlWpg3ux9x0zc+zg=", "NVuBm+XMyya3Tq4EhpZ0cQWjVUyIA8sKnySkKDOIM4M=", http.StatusOK},
		{"get", "http://localhost", http.MethodGet, "/alerts?status=open&page-size=1", "",
			"Yo4n6UdFh/dkyiv1Z+T3roQSSsDPbq8ArT/30yUoWEY=", "NVuBm+XMyya3Tq4EhpZ0cQWjVUyIA8sKnySkKDOIM4M=", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := start(t, hawkConfig(tc.base), options{now: 1700000000})
			u, err := url.Parse(tc.base)
			require.NoError(t, err)
			prefix := u.Path
			if tc.method != http.MethodPost {
				a := n.do(http.MethodPost, prefix+"/alert", alertBody(alertID, "web01", "HttpError", "major"), "X-API-Key", "demo-key-for-setup")
				require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
			}
			h := `Hawk mac="` + tc.mac + `", hash="` + tc.hash + `", id="` + specHawk.ID + `", ts="1700000000", nonce="Ab3dE_"`
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			// Every vector is signed with Content-Type application/json, the
			// empty DELETE and GET bodies included.
			a := n.doCT(tc.method, tc.path, body, "application/json", "Authorization", h)
			require.Equal(t, tc.want, a.status, "%s", a.body)

			// The same request again is a replay.
			a = n.doCT(tc.method, tc.path, body, "application/json", "Authorization", h)
			require.Equal(t, http.StatusUnauthorized, a.status, "%s", a.body)
			require.Contains(t, string(a.body), "nonce already used")
		})
	}
}

// TestHawkSkewAndHost checks the ±300 s window (−299 and +299 pass, −301 and +301
// do not) and hawk_host_from_request, which signs with the Host header's port.
func TestHawkSkewAndHost(t *testing.T) {
	const now = 1700000000
	n := start(t, hawkConfig("http://gw:8977/alerta"), options{now: now})
	for i, tc := range []struct {
		skew int64
		want int
	}{{-299, 201}, {299, 201}, {-301, 401}, {301, 401}, {0, 201}} {
		body := alertBody("", "web0"+string(rune('a'+i)), "HttpError", "major")
		h := hawkHeader(t, specHawk, http.MethodPost, "gw", 8977, "/alerta/alert", "application/json", body, now+tc.skew, hawk.Nonce())
		a := n.do(http.MethodPost, "/alerta/alert", body, "Authorization", h)
		require.Equal(t, tc.want, a.status, "skew %d: %s", tc.skew, a.body)
		if tc.want == 401 {
			require.Contains(t, string(a.body), "has expired")
		}
	}
	// Signed for another port than base_url's: a MAC mismatch, answered without
	// the MAC the receiver wanted.
	body := alertBody("", "web09", "HttpError", "major")
	h := hawkHeader(t, specHawk, http.MethodPost, "gw", 80, "/alerta/alert", "application/json", body, now, hawk.Nonce())
	a := n.do(http.MethodPost, "/alerta/alert", body, "Authorization", h)
	require.Equal(t, http.StatusUnauthorized, a.status)
	require.Equal(t, "MACs do not match", a.json(t)["message"])
	require.NotContains(t, string(a.body), "ours")

	c := hawkConfig("http://gw:8977/alerta")
	c.HawkHostFromRequest = true
	m := start(t, c, options{now: now})
	body = alertBody("", "web10", "HttpError", "major")
	h = hawkHeader(t, specHawk, http.MethodPost, "localhost", 9001, "/alerta/alert", "application/json", body, now, hawk.Nonce())
	a = m.do(http.MethodPost, "/alerta/alert", body, "Authorization", h, "Host", "localhost:9001")
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	// The same signature sent with another Host: the port differs.
	a = m.do(http.MethodPost, "/alerta/alert", body, "Authorization", h, "Host", "localhost:9002")
	require.Equal(t, http.StatusUnauthorized, a.status, "%s", a.body)
}

// TestAuthMethods checks each method good and bad, in Alerta's order (§4.1).
func TestAuthMethods(t *testing.T) {
	const now = 1700000000
	c := hawkConfig("http://gw:8977/alerta")
	c.Auth.APIKeys = []adaptersSecret{"api-key-1234"}
	c.Auth.Bearer = []adaptersSecret{"bearer-token-5678"}
	c.Auth.Basic = []receiver.BasicUser{{Username: "fed", Password: "pa55w0rd:x"}}
	n := start(t, c, options{now: now})
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	i := 0
	body := func() []byte { i++; return alertBody("", "res"+string(rune('a'+i)), "E", "major") }
	sign := func(b []byte) string {
		return hawkHeader(t, specHawk, http.MethodPost, "gw", 8977, "/alerta/alert", "application/json", b, now, hawk.Nonce())
	}
	for _, tc := range []struct {
		name    string
		hdr     func(b []byte) []string
		path    string
		want    int
		message string
	}{
		{"key header", func([]byte) []string { return []string{"Authorization", "Key api-key-1234"} }, "", 201, ""},
		{"key header extra words", func([]byte) []string { return []string{"Authorization", "Key api-key-1234 trailing"} }, "", 201, ""},
		{"x-api-key", func([]byte) []string { return []string{"X-API-Key", "api-key-1234"} }, "", 201, ""},
		{"query key", func([]byte) []string { return nil }, "?api-key=api-key-1234", 201, ""},
		{"bad key", func([]byte) []string { return []string{"X-API-Key", "nope-nope"} }, "", 401, "API key parameter is invalid"},
		{"bad key beats good hawk", func(b []byte) []string { return []string{"Authorization", sign(b), "X-API-Key", "nope-nope"} }, "", 401, "API key parameter is invalid"},
		{"hawk", func(b []byte) []string { return []string{"Authorization", sign(b)} }, "", 201, ""},
		{"lowercase hawk falls through", func(b []byte) []string { return []string{"Authorization", "h" + sign(b)[1:]} }, "", 401, "Missing authorization API Key or Bearer Token"},
		{"hawk unknown id", func(b []byte) []string {
			return []string{"Authorization", hawkHeader(t, hawk.Credentials{ID: "other", Key: "k"}, http.MethodPost, "gw", 8977, "/alerta/alert", "application/json", b, now, hawk.Nonce())}
		}, "", 401, "Could not find credentials for the Hawk ID"},
		{"hawk bad syntax", func([]byte) []string { return []string{"Authorization", `Hawk id="x", bogus="y"`} }, "", 401, "Invalid Hawk header"},
		{"bearer", func([]byte) []string { return []string{"Authorization", "Bearer bearer-token-5678"} }, "", 201, ""},
		{"bad bearer", func([]byte) []string { return []string{"Authorization", "Bearer bearer-token-567"} }, "", 401, "Token is invalid"},
		{"basic", func([]byte) []string { return []string{"Authorization", basic("fed", "pa55w0rd:x")} }, "", 201, ""},
		{"bad basic", func([]byte) []string { return []string{"Authorization", basic("fed", "pa55w0rd")} }, "", 401, "Authorization required"},
		{"unknown user", func([]byte) []string { return []string{"Authorization", basic("bob", "pa55w0rd:x")} }, "", 401, "Authorization required"},
		{"basic garbage", func([]byte) []string { return []string{"Authorization", "Basic !!!"} }, "", 400, "Invalid credentials"},
		{"none", func([]byte) []string { return nil }, "", 401, "Missing authorization API Key or Bearer Token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := body()
			a := n.do(http.MethodPost, "/alerta/alert"+tc.path, b, tc.hdr(b)...)
			require.Equal(t, tc.want, a.status, "%s", a.body)
			if tc.message != "" {
				require.Equal(t, tc.message, a.json(t)["message"])
				require.Equal(t, "error", a.json(t)["status"])
			}
			if tc.message == "Authorization required" {
				require.Equal(t, "Basic realm=Alerta", a.header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestLoopbackOnlyWithoutCredentials: with no credential configured, loopback
// clients are served and every other client is answered 403.
func TestLoopbackOnlyWithoutCredentials(t *testing.T) {
	n := start(t, config("http://localhost:8080"), options{})
	a := n.do(http.MethodPost, "/alert", alertBody("", "web01", "E", "major"))
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)

	for _, remote := range []string{"192.0.2.7:4000", "[2001:db8::1]:4000", "10.0.0.1:1"} {
		req := httptest.NewRequest(http.MethodPost, "/alert", strings.NewReader(string(alertBody("", "web02", "E", "major"))))
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		n.src.Handler().ServeHTTP(w, req)
		require.Equal(t, http.StatusForbidden, w.Code, remote)
		require.NotEmpty(t, w.Header().Get(alerta.HeaderRequestID))
	}
	for _, remote := range []string{"127.0.0.1:4000", "[::1]:4000", "127.3.2.1:9"} {
		req := httptest.NewRequest(http.MethodGet, "/alerts", nil)
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		n.src.Handler().ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code, remote)
	}
}

// TestConfigValidate names the key of each problem.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *receiver.Config)
		want string
	}{
		{"ok", func(*receiver.Config) {}, ""},
		{"no base_url", func(c *receiver.Config) { c.BaseURL = "" }, "base_url: required"},
		{"relative", func(c *receiver.Config) { c.BaseURL = "/alerta" }, "base_url: must be an absolute"},
		{"ftp", func(c *receiver.Config) { c.BaseURL = "ftp://gw/alerta" }, "base_url: must be an absolute"},
		{"trailing slash", func(c *receiver.Config) { c.BaseURL = "http://gw:8977/alerta/" }, "must not end with '/'"},
		{"root slash", func(c *receiver.Config) { c.BaseURL = "http://gw:8977/" }, "must not end with '/'"},
		{"query", func(c *receiver.Config) { c.BaseURL = "http://gw:8977/a?x=1" }, "no query"},
		{"user", func(c *receiver.Config) { c.BaseURL = "http://u:p@gw:8977/a" }, "user"},
		{"pattern chars", func(c *receiver.Config) { c.BaseURL = "http://gw/{x}" }, "plain"},
		{"bad port", func(c *receiver.Config) { c.BaseURL = "http://gw:0/a" }, "port"},
		{"comma in base_url", func(c *receiver.Config) { c.BaseURL = "http://gw:8977/a,b" }, "base_url: must not contain ','"},
		{"comma in host", func(c *receiver.Config) { c.BaseURL = "http://gw,x:8977/a" }, "base_url: must not contain ','"},
		{"space in base_url", func(c *receiver.Config) { c.BaseURL = "http://gw:8977/a b" }, "base_url: must not contain ',' or white space"},
		{"leading space", func(c *receiver.Config) { c.BaseURL = " http://gw:8977/a" }, "base_url: must not contain ',' or white space"},
		{"trailing newline", func(c *receiver.Config) { c.BaseURL = "http://gw:8977/a\n" }, "base_url: must not contain ',' or white space"},
		{"tab in host", func(c *receiver.Config) { c.BaseURL = "http://g\tw:8977/a" }, "base_url: must not contain ',' or white space"},
		{"comma with password", func(c *receiver.Config) { c.BaseURL = "http://u:s3cret-pw@gw,x/a" }, "base_url: must not contain ','"},
		{"body too big", func(c *receiver.Config) { c.MaxBodyBytes = 2 << 20 }, "max_body_bytes"},
		{"state too big", func(c *receiver.Config) { c.MaxStateBytes = 256<<20 + 1 }, "max_state_bytes: must be between 1 and 268435456"},
		{"state negative", func(c *receiver.Config) { c.MaxStateBytes = -1 }, "max_state_bytes"},
		{"state under 8 bodies", func(c *receiver.Config) { c.MaxStateBytes = 8*receiver.DefaultMaxBodyBytes - 1 }, "max_state_bytes: must be at least 8 times max_body_bytes (131072)"},
		{"state under 8 set bodies", func(c *receiver.Config) { c.MaxBodyBytes, c.MaxStateBytes = 1<<20, 4<<20 }, "max_state_bytes: must be at least 8 times max_body_bytes (8388608)"},
		{"state 8 bodies", func(c *receiver.Config) { c.MaxBodyBytes, c.MaxStateBytes = 1<<20, 8<<20 }, ""},
		{"state default", func(c *receiver.Config) { c.MaxStateBytes = 0 }, ""},
		{"alerts too many", func(c *receiver.Config) { c.MaxAlerts = 100001 }, "max_alerts"},
		{"negative timeout", func(c *receiver.Config) { c.PublishTimeout = -1 }, "publish_timeout"},
		{"bad env", func(c *receiver.Config) { c.Environments = []string{"Prod("} }, "environments: allowed environment 1"},
		{"hawk no id", func(c *receiver.Config) { c.Auth.Hawk = []receiver.HawkCredential{{Key: "k"}} }, "auth.hawk[0].id: required"},
		{"hawk no key", func(c *receiver.Config) { c.Auth.Hawk = []receiver.HawkCredential{{ID: "i"}} }, "auth.hawk[0]: one of key, key_file and key_env"},
		{"hawk two keys", func(c *receiver.Config) {
			c.Auth.Hawk = []receiver.HawkCredential{{ID: "i", Key: "k", KeyEnv: "E"}}
		}, "auth.hawk[0]: set only one"},
		{"hawk dup", func(c *receiver.Config) {
			c.Auth.Hawk = []receiver.HawkCredential{{ID: "i", Key: "k"}, {ID: "i", Key: "k"}}
		}, "auth.hawk[1].id: \"i\" is listed twice"},
		{"hawk alg", func(c *receiver.Config) {
			c.Auth.Hawk = []receiver.HawkCredential{{ID: "i", Key: "k", Algorithm: "md5"}}
		}, "auth.hawk[0].algorithm"},
		{"empty api key", func(c *receiver.Config) { c.Auth.APIKeys = []adaptersSecret{""} }, "auth.api_keys[0]: empty"},
		{"spaced api key", func(c *receiver.Config) { c.Auth.APIKeys = []adaptersSecret{"a b"} }, "auth.api_keys[0]: must be printable"},
		{"basic no user", func(c *receiver.Config) { c.Auth.Basic = []receiver.BasicUser{{Password: "p"}} }, "auth.basic[0].username: required"},
		{"basic colon", func(c *receiver.Config) { c.Auth.Basic = []receiver.BasicUser{{Username: "a:b", Password: "p"}} }, "must not contain ':'"},
		{"basic no password", func(c *receiver.Config) { c.Auth.Basic = []receiver.BasicUser{{Username: "u"}} }, "auth.basic[0]: one of password"},
		{"empty bearer", func(c *receiver.Config) { c.Auth.Bearer = []adaptersSecret{""} }, "auth.bearer[0]: empty"},
		{"tls without listen", func(c *receiver.Config) { c.TLS.CertFile = "x" }, "tls: needs listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config("http://gw-hall3:8977/alerta")
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
	c := config("http://u:s3cret-pw@gw,x/a")
	require.NotContains(t, c.Validate().Error(), "s3cret-pw", "a password in base_url is never echoed")
	c = config("http://gw-hall3:8977/alerta")
	require.Equal(t, "http://gw-hall3:8977/alerta", c.LoopIdentity())
}

// TestSecretsFromFilesAndEnv resolves key_file, key_env, password_file and
// api_key_files when the source is built; a missing one fails naming the key.
func TestSecretsFromFilesAndEnv(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := dir + "/" + name
		require.NoError(t, writeFile(p, v+"\n"))
		return p
	}
	t.Setenv("RECEIVER_TEST_HAWK", "env-hawk-secret-1")
	c := config("http://gw:8977")
	c.Auth.Hawk = []receiver.HawkCredential{{ID: "h1", KeyEnv: "RECEIVER_TEST_HAWK"}, {ID: "h2", KeyFile: write("hawk", "file-hawk-secret-2")}}
	c.Auth.APIKeyFiles = []string{write("key", "file-api-key-3")}
	c.Auth.Basic = []receiver.BasicUser{{Username: "fed", PasswordFile: write("pass", "file-password-4")}}
	require.NoError(t, c.Validate())
	n := start(t, c, options{now: 1700000000})
	b := alertBody("", "r1", "E", "major")
	require.Equal(t, 201, n.do("POST", "/alert", b, "X-API-Key", "file-api-key-3").status)
	require.Equal(t, 201, n.do("POST", "/alert", b, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("fed:file-password-4"))).status)
	for _, cr := range []hawk.Credentials{{ID: "h1", Key: "env-hawk-secret-1"}, {ID: "h2", Key: "file-hawk-secret-2"}} {
		h := hawkHeader(t, cr, "POST", "gw", 8977, "/alert", "application/json", b, 1700000000, hawk.Nonce())
		require.Equal(t, 201, n.do("POST", "/alert", b, "Authorization", h).status)
	}

	c.Auth.Hawk = []receiver.HawkCredential{{ID: "h1", KeyEnv: "RECEIVER_TEST_UNSET_VARIABLE"}}
	_, err := receiver.NewSource(c, adapters.Deps{Name: "x"})
	require.ErrorContains(t, err, "auth.hawk[0] (h1)")
	require.ErrorContains(t, err, "RECEIVER_TEST_UNSET_VARIABLE")
}

// errRefused is the recorder's refusal in tests that refuse events.
var errRefused = errors.New("store full")

// refuseAll refuses every event.
func refuseAll() adaptertest.RecorderOption {
	return adaptertest.RejectWhen(func(*adapters.Event, int) error { return errRefused })
}
