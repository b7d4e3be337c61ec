package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

// echoServer is a hostile upstream: it answers every request with status and a body
// that echoes the whole request back (request line, every header, the body), as
// plain text or as JSON (so JSON-escaped), after a padding whose length changes with
// every request so that the relay's excerpts cut the echo at a different point each
// time.
func echoServer(t *testing.T, status int) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		body, _ := io.ReadAll(r.Body)
		var dump strings.Builder
		fmt.Fprintf(&dump, "%s %s %s\nHost: %s\n", r.Method, r.RequestURI, r.Proto, r.Host)
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&dump, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
		dump.WriteString("\n")
		dump.Write(body)
		pad := strings.Repeat("p", int(i*37%300))
		text := dump.String()
		if i%2 == 0 {
			j, _ := json.Marshal(map[string]any{"error": "echo", "method": r.Method, "uri": r.RequestURI, "header": r.Header, "body": string(body)})
			text = string(j)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, pad+text)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// leakForms returns every form of v that must appear nowhere: the value, its
// base64 (for a user:password pair, the Basic auth value), its query-, path- and
// JSON-escaped forms, and its 8-byte prefix and suffix.
func leakForms(v string) map[string]string {
	j, _ := json.Marshal(v)
	f := map[string]string{
		"value":        v,
		"base64":       base64.StdEncoding.EncodeToString([]byte(v)),
		"query-escape": url.QueryEscape(v),
		"path-escape":  url.PathEscape(v),
		"json-escape":  string(j[1 : len(j)-1]),
		"prefix8":      v[:8],
		"suffix8":      v[len(v)-8:],
	}
	if user, _, ok := strings.Cut(v, ":"); ok && user != "" {
		delete(f, "prefix8") // the user name, which is no secret
	}
	return f
}

// TestNoSecretLeaks seeds every kind of secret the configuration accepts, each with
// a distinct value, into a daemon whose upstreams echo every request back in their
// error answers (400: dead-lettered; 503: retried), and then searches every log line,
// /ready, /metrics, the dead-letter reasons (queue list), config check's output and
// the raw store file for every form of every secret.
func TestNoSecretLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: secret-leak end-to-end test (runs the daemon); runs without -short")
	}
	dir := t.TempDir()
	perm, retry := echoServer(t, http.StatusBadRequest), echoServer(t, http.StatusServiceUnavailable)
	brokerAddr, httpAddr := freePort(t), freePort(t)
	// A Kafka cluster that takes SASL/PLAIN: one source logs in (the password crosses
	// the wire), another is refused with a wrong one.
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "alerts"), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "ku", "KafkaPw-6f8h0j2l4n6p8r"))
	require.NoError(t, err)
	t.Cleanup(kf.Close)
	kafkaAddr := kf.ListenAddrs()[0]

	// One distinct, recognisable value per secret. Some hold characters that every
	// encoding changes (+ / & < " @ space).
	secrets := map[string]string{
		"webhook auth_value (literal)":      "LitTok-9f3a+b/c&d<e>Qz",
		"webhook auth_value_file":           "FileTok-7c1e2d4b9a8f6e5d",
		"webhook auth_value_env":            "EnvTok-3b5d7f9h1j2k4m6n",
		"webhook header value":              "HdrKey-8d6f4h2j0l9n7p5r",
		"webhook URL password":              "UrlPw-5e7g9i1k3m5o&7q@s",
		"webhook URL user:password":         "hookuser:UrlPw-5e7g9i1k3m5o&7q@s",
		"webhook URL password (perm)":       "UrlPw2-4t6v8x0z2b4d6f8h",
		"ilert integration_key":             "il1api-IntKey0a1b2c3d4e5f",
		"ilert integration_key_file":        "il1api-IntFile9z8y7x6w5v",
		"ilert api_key (env ILERT_API_KEY)": "il1-ApiKeyEnv-6u5t4s3r2q",
		"ilert api_key (literal)":           "il1-ApiKeyLit-1p2o3n4m5l",
		"ilert self_heartbeat_key":          "il1hbt-SelfHb-k9j8h7g6f5",
		"ilert_http token":                  "IngestTok-2w4e6r8t0y2u",
		"mqtt password (literal)":           "MqttPw-1a3c5e7g9i1k3m5o",
		"mqtt password_file":                "MqttFilePw-2b4d6f8h0j2l",
		"mqtt wrong password":               "MqttWrong-3c5e7g9i1k3m5",
		"mqtt URL password":                 "MqttUrlPw-4d6f8h0j2l4n",
		"broker user password":              "BrokerPw-5e7g9i1k3m5o7q",
		"kafka sasl password":               "KafkaPw-6f8h0j2l4n6p8r",
		"kafka wrong sasl password":         "KafkaWrong-7g9i1k3m5o7q",
		"route transform event_key":         "il1api-RouteKey8s7d6f5g4h",
	}
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content+"\n"), 0o600))
		return p
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // a YAML flow scalar
	hostOf := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	uiURL := (&url.URL{Scheme: "http", User: url.UserPassword("hookuser", secrets["webhook URL password"]), Host: hostOf(retry), Path: "/retry/userinfo"}).String()
	uiPermURL := (&url.URL{Scheme: "http", User: url.UserPassword("hookuser2", secrets["webhook URL password (perm)"]), Host: hostOf(perm), Path: "/perm/userinfo"}).String()
	mqURL := (&url.URL{Scheme: "tcp", User: url.UserPassword("second", secrets["mqtt URL password"]), Host: brokerAddr}).String()

	cfgText := fmt.Sprintf(`
log: { level: debug }
store: { path: %[1]s/queue.db }
http: { listen: %[2]s }
broker:
  enabled: "true"
  listen: %[3]s
  users:
    - { username: relay, password: %[4]s }
    - { username: second, password: %[5]s }
sources:
  - { name: plant, type: mqtt, url: "tcp://%[3]s", username: relay, password: %[6]s, topics: ["plant/#"], qos: 1 }
  - { name: viafile, type: mqtt, url: "tcp://%[3]s", username: second, password_file: %[8]s, topics: ["other/#"], qos: 1 }
  - { name: wrongpw, type: mqtt, url: "tcp://%[3]s", username: relay, password: %[9]s, topics: ["other/#"], qos: 1 }
  - { name: viaurl, type: mqtt, url: %[7]s, topics: ["third/#"], qos: 1 }
  - { name: ingest, type: ilert_http, token: %[10]s }
  - { name: kq, type: kafka, brokers: ["%[11]s"], topics: [alerts], sasl: { username: ku, password: %[12]s } }
  - { name: kq-wrong, type: kafka, brokers: ["%[11]s"], topics: [alerts], group_id: other, sasl: { username: ku, password: %[24]s } }
sinks:
  - name: hook-lit
    type: webhook
    url: %[13]s/perm/lit
    auth_value: %[14]s
    headers: { X-Api-Key: %[15]s }
    retry: { initial: 20ms, max: 100ms }
  - name: hook-file
    type: webhook
    url: %[16]s/retry/file
    auth_value_file: %[17]s
    retry: { initial: 20ms, max: 100ms }
  - name: hook-env
    type: webhook
    url: %[13]s/perm/env
    auth_header: X-Token
    auth_value_env: HOOK_TOKEN_TEST
    retry: { initial: 20ms, max: 100ms }
  - { name: hook-ui, type: webhook, url: %[18]s, retry: { initial: 20ms, max: 100ms } }
  - { name: hook-ui-perm, type: webhook, url: %[19]s, retry: { initial: 20ms, max: 100ms } }
  - name: ilert-perm
    type: ilert
    api_host: %[13]s
    heartbeat_host: %[13]s
    events_path: mqtt
    integration_key: %[20]s
    self_heartbeat_key: %[21]s
    self_heartbeat_interval: 1s
    retry: { initial: 20ms, max: 100ms }
  - name: ilert-retry
    type: ilert
    api_host: %[16]s
    events_path: mqtt
    integration_key_file: %[22]s
    api_key: %[23]s
    retry: { initial: 20ms, max: 100ms }
  - { name: ilert-route, type: ilert, api_host: %[16]s, retry: { initial: 20ms, max: 100ms } }
routes:
  - { from: [plant, ingest], to: [hook-lit, hook-file, hook-env, hook-ui, hook-ui-perm, ilert-perm, ilert-retry] }
  - name: mapped
    from: [plant]
    to: [ilert-route]
    transform: { type: ilert, event_topic: "plant/#", event_key: %[25]s }
`, dir, httpAddr, brokerAddr,
		q(secrets["broker user password"]), q(secrets["mqtt password_file"]),
		q(secrets["mqtt password (literal)"]), q(mqURL), file("mqtt-pw", secrets["mqtt password_file"]), q(secrets["mqtt wrong password"]),
		q(secrets["ilert_http token"]), kafkaAddr, q(secrets["kafka sasl password"]),
		perm.URL, q("Bearer "+secrets["webhook auth_value (literal)"]), q(secrets["webhook header value"]),
		retry.URL, file("hook-token", secrets["webhook auth_value_file"]),
		q(uiURL), q(uiPermURL),
		q(secrets["ilert integration_key"]), q(secrets["ilert self_heartbeat_key"]),
		file("ilert-key", secrets["ilert integration_key_file"]), q(secrets["ilert api_key (literal)"]),
		q(secrets["kafka wrong sasl password"]), q(secrets["route transform event_key"]))
	cfg := writeConfig(t, dir, cfgText)

	var found []string
	search := func(where, text string) {
		t.Helper()
		for name, v := range secrets {
			for form, f := range leakForms(v) {
				if strings.Contains(text, f) {
					i := strings.Index(text, f)
					found = append(found, fmt.Sprintf("%s: %s of %s, in …%s…", where, form, name,
						text[max(0, i-60):min(len(text), i+len(f)+20)]))
				}
			}
		}
	}

	// config check of the good file, and of one whose URLs are bad in ways that
	// make the errors talk about them. config check requires the *_env variables set.
	t.Setenv("HOOK_TOKEN_TEST", secrets["webhook auth_value_env"])
	code, out, errs := cli(t, "config", "check", "-c", cfg)
	require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out, errs)
	search("config check", out+errs)
	bad := writeConfig(t, t.TempDir(), fmt.Sprintf(`
sources:
  - { name: m1, type: mqtt, url: "ftp://relay:%[1]s@127.0.0.1:1883", topics: [a] }
  - { name: m2, type: mqtt, url: "tcp://relay:%[1]s@127.0.0.1:1883/path", topics: [a] }
sinks:
  - { name: h1, type: webhook, url: "http://hookuser:%[2]s@127.0.0.1/%%zz" }
  - { name: h2, type: webhook, url: "gopher://hookuser:%[2]s@127.0.0.1/" }
  - { name: i1, type: ilert, api_host: "https://u:%[3]s@127.0.0.1", integration_key: %[4]s }
routes: [ { to: [h1] } ]
`, url.PathEscape(secrets["mqtt URL password"]), url.PathEscape(secrets["webhook URL password"]),
		url.PathEscape(secrets["ilert api_key (literal)"]), q(secrets["ilert integration_key"])))
	code, out, errs = cli(t, "config", "check", "-c", bad)
	require.Equal(t, exitConfig, code, "stdout=%s stderr=%s", out, errs)
	require.Contains(t, errs, "url")
	search("config check (bad)", out+errs)

	d := startDaemon(t, []string{
		"HOOK_TOKEN_TEST=" + secrets["webhook auth_value_env"],
		"ILERT_API_KEY=" + secrets["ilert api_key (env ILERT_API_KEY)"],
	}, "run", "-c", cfg)
	waitHTTP(t, d, "http://"+httpAddr+"/health", http.StatusNoContent)

	// Events in: over MQTT (embedded broker, anonymous from loopback) and over the
	// ilert_http ingest, with its token.
	c := mqttClient(t, brokerAddr, "plc-secrets")
	for i := range 5 {
		tok := c.Publish("plant/line1", 1, false, fmt.Sprintf(`{"eventType":"ALERT","summary":"pump %d","alertKey":"k%d"}`, i, i))
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	c.Disconnect(100)
	for i := range 3 {
		req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/api/events",
			strings.NewReader(fmt.Sprintf(`{"integrationKey":"il1api-from-the-payload","eventType":"ALERT","summary":"ingest %d","alertKey":"i%d"}`, i, i)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+secrets["ilert_http token"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 300, "ingest answered %d", resp.StatusCode)
	}

	// Wait for the dead letters of the permanent sinks and for retries of the
	// others (each retried answer echoes again, cut at another point).
	metricsURL := "http://" + httpAddr + "/metrics"
	waitUntil(t, "dead letters and retries", 60*time.Second, func() bool {
		return scrape(t, httpAddr, `edgerelay_dead_letters_total{sink="hook-lit"}`) >= 8 &&
			scrape(t, httpAddr, `edgerelay_dead_letters_total{sink="ilert-perm"}`) >= 8 &&
			scrape(t, httpAddr, `edgerelay_dead_letters_total{sink="hook-ui-perm"}`) >= 8 &&
			scrape(t, httpAddr, `edgerelay_retries_total{sink="hook-ui"}`) >= 40 &&
			scrape(t, httpAddr, `edgerelay_retries_total{sink="ilert-retry"}`) >= 40 &&
			scrape(t, httpAddr, `edgerelay_retries_total{sink="ilert-route"}`) >= 20
	})
	// The Kafka sources: one logged in with SASL/PLAIN and joined its group, the
	// other was refused (its error is in the log and on /ready).
	waitUntil(t, "the Kafka source to join with SASL", 60*time.Second, func() bool {
		return strings.Contains(d.stderr.String(), "joined the group")
	})
	for _, u := range []string{"http://" + httpAddr + "/ready", metricsURL} {
		resp, err := http.Get(u)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		search(u, string(b))
	}

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop within 30s of SIGTERM")
	}
	logs := d.stderr.String()
	require.Contains(t, logs, "hook-lit", "the log talks about the failing sinks")
	require.Contains(t, logs, "***", "the log shows redactions")
	search("log", logs)
	if p := os.Getenv("EDGERELAY_TEST_SECRETS_LOG"); p != "" {
		_ = os.WriteFile(p, []byte(logs), 0o600)
	}
	t.Logf("searched %d bytes of log (%d redactions)", len(logs), strings.Count(logs, "***"))

	// Dead letters and pending events, as queue list shows them.
	for _, args := range [][]string{{"queue", "list", "-c", cfg, "--dead", "--limit", "0"}, {"queue", "list", "-c", cfg, "--limit", "0"}} {
		code, out, errs := cli(t, args...)
		require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out, errs)
		search(strings.Join(args[:3], " "), out+errs)
		if args[3] == "--dead" {
			require.Contains(t, out, "hook-lit")
			require.Contains(t, out, "status 400")
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "queue.db"))
	require.NoError(t, err)
	require.True(t, bytes.Contains(raw, []byte("status 400")), "the store holds the dead letters' reasons")
	search("store file", string(raw))

	require.Empty(t, found, "secrets leaked:\n%s", strings.Join(found, "\n"))
}
