package daemon_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/web"
	"github.com/edgerelay/edgerelay/daemon/web/webtest"
)

// TestMetricsScrape runs a daemon with every sink kind (webhook, stdout, ilert) and
// both network sources (the embedded broker's mqtt source, ilert_http), sends traffic
// that makes every daemon metric family appear (deliveries, a retry, a dead letter,
// an oversize event, a bad broker login, a bad ingest token), scrapes /metrics and
// checks it: HELP and TYPE for every family, every daemon family present, the reject
// counters equal to the attempts, and `promtool check metrics`.
func TestMetricsScrape(t *testing.T) {
	var hookCalls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch {
		case hookCalls.Add(1) == 1:
			w.WriteHeader(http.StatusServiceUnavailable) // a retry
		case strings.Contains(string(b), "poison"):
			w.WriteHeader(http.StatusBadRequest) // a dead letter
		}
	}))
	defer hook.Close()
	fake := ilerttest.NewServer(t)

	brokerAddr := freePort(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db, max_event_bytes: 2048 }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s, users: [ { username: dev, password: right-password } ] }
sources:
  - { name: local, type: mqtt, url: "tcp://%s", topics: ["a/#"] }
  - { name: proxy, type: ilert_http, token: right-token }
sinks:
  - { name: hook, type: webhook, url: %q, retry: { initial: 10ms, max: 10ms } }
  - { name: console, type: stdout }
  - { name: ilert, type: ilert, api_host: %q }
routes:
  - { from: [local], to: [hook, console] }
  - { from: [proxy], to: [ilert] }
`, t.TempDir(), brokerAddr, brokerAddr, hook.URL, fake.URL())), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	defer stop()

	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("pub"))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	for _, body := range []string{`{"n":1}`, `{"n":2,"poison":true}`, `{"big":"` + strings.Repeat("x", 4096) + `"}`} {
		tok := c.Publish("a/x", 1, false, body)
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	c.Disconnect(50)

	const badLogins, badTokens = 7, 9
	for i := range badLogins {
		o := paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID(fmt.Sprint("x", i)).
			SetUsername("dev").SetPassword("guess").SetProtocolVersion(4).SetAutoReconnect(false)
		tok := paho.NewClient(o).Connect()
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.Error(t, tok.Error())
	}
	post := func(token string) int {
		req, err := http.NewRequest("POST", "http://"+d.Addr()+"/api/events",
			strings.NewReader(`{"integrationKey":"il1api-k","eventType":"ALERT","summary":"s","alertKey":"a"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range badTokens {
		require.Equal(t, http.StatusUnauthorized, post("wrong-token"))
	}
	require.Eventually(t, func() bool { return post("right-token") == http.StatusOK }, 10*time.Second, 10*time.Millisecond)

	scrape := func() string {
		resp, err := http.Get("http://" + d.Addr() + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	wantLines := []string{
		`edgerelay_events_out_total{sink="hook"} 1`,
		`edgerelay_events_out_total{sink="console"} 2`,
		`edgerelay_events_out_total{sink="ilert"} 1`,
		`edgerelay_dead_letters_total{sink="hook"} 1`,
		`edgerelay_events_rejected_total{source="local",reason="too_large"} 1`,
		fmt.Sprintf(`edgerelay_broker_rejects_total{reason="auth_failed"} %d`, badLogins),
		`edgerelay_broker_rejects_total{reason="oversize"} 0`,
		fmt.Sprintf(`edgerelay_source_rejects_total{source="proxy",reason="unauthorized"} %d`, badTokens),
	}
	var body string
	require.Eventually(t, func() bool {
		body = scrape()
		for _, l := range wantLines {
			if !strings.Contains(body, "\n"+l+"\n") {
				return false
			}
		}
		return strings.Contains(body, `edgerelay_retries_total{sink="hook"}`)
	}, 20*time.Second, 20*time.Millisecond, "want %q in:\n%s", wantLines, body)

	types := webtest.CheckFamilies(t, []byte(body))
	for _, name := range []string{
		web.MetricEventsIn, web.MetricEventsOut, web.MetricEventsRejected, web.MetricRetries, web.MetricDeadLetters,
		web.MetricQueueDepth, web.MetricQueueOldestAge, web.MetricStoreCommits, web.MetricStoreBytesWritten,
		web.MetricStoreQuarantined, web.MetricBusDropped, web.MetricBrokerRejects, web.MetricSourceRejects,
	} {
		require.Contains(t, types, name, "the scrape has every daemon family")
	}
	webtest.Promtool(t, []byte(body))
}
