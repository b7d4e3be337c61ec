package daemon_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
)

// receiver is a webhook target that records the ids of the payloads it took, and
// can be made to fail every nth request (503) or to answer slowly.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	ids     map[string]int
	headers map[string]bool // the X-Gen values seen
	reqs    atomic.Int64
	failNth int64
	delay   time.Duration
}

func newReceiver(t *testing.T, failNth int64, delay time.Duration) *receiver {
	r := &receiver{ids: map[string]int{}, headers: map[string]bool{}, failNth: failNth, delay: delay}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		if n := r.reqs.Add(1); r.failNth > 0 && n%r.failNth == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		time.Sleep(r.delay)
		var p struct{ ID string }
		_ = json.Unmarshal(b, &p)
		r.mu.Lock()
		r.ids[p.ID]++
		r.headers[req.Header.Get("X-Gen")] = true
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id] > 0
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// reloadRig is a daemon whose configuration file the test rewrites and reloads.
type reloadRig struct {
	t          *testing.T
	dir, path  string
	brokerAddr string
	d          *daemon.Daemon
	sub        *events.Subscription
	stop       func()
}

func newReloadRig(t *testing.T, yaml func(dir, broker string) string) *reloadRig {
	r := &reloadRig{t: t, dir: t.TempDir(), brokerAddr: freePort(t)}
	r.path = filepath.Join(r.dir, "edgerelay.yaml")
	r.write(yaml(r.dir, r.brokerAddr))
	cfg, err := config.Load(r.path)
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test",
		Load: func() (*config.Config, error) { return config.Load(r.path) }})
	require.NoError(t, err)
	r.d = d
	r.sub = d.Events().Subscribe("reload-test", 64, events.ConfigReloaded)
	r.stop = runDaemon(t, d) // reload retries while the daemon is still starting
	return r
}

func (r *reloadRig) write(yaml string) {
	require.NoError(r.t, os.WriteFile(r.path, []byte(yaml), 0o600))
}

// reload rewrites the file and reloads it, returning Reload's error and the
// ConfigReloaded event it published.
func (r *reloadRig) reload(yaml string) (error, events.Event) {
	r.t.Helper()
	r.write(yaml)
	// Until Run has started the sources and the pipeline has loaded the stored
	// outboxes, a reload is refused with ErrNotRunning: only a rig's first reload can
	// meet that.
	err := r.d.Reload()
	for deadline := time.Now().Add(15 * time.Second); errors.Is(err, daemon.ErrNotRunning) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		err = r.d.Reload()
	}
	if err != nil {
		r.t.Log("reload: ", err)
	}
	select {
	case e := <-r.sub.C():
		return err, e
	case <-time.After(10 * time.Second):
		r.t.Fatal("no ConfigReloaded event")
		return err, events.Event{}
	}
}

func (r *reloadRig) ready() (int, string) {
	resp, err := http.Get("http://" + r.d.Addr() + "/ready")
	require.NoError(r.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// publisher publishes QoS 1 messages with ids p-0, p-1, … on topics until stopped.
// An id counts as sent once its PUBACK came (the relay then has it safe); a publish
// that fails or times out (the relay disconnects a client whose message it could not
// take, while a source is swapped) is sent again with the same id.
type publisher struct {
	mu    sync.Mutex
	acked []string
	stop  chan struct{}
	done  chan struct{}
}

func startPublisher(t *testing.T, brokerAddr string, topics ...string) *publisher {
	p := &publisher{stop: make(chan struct{}), done: make(chan struct{})}
	opts := paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("reload-pub").
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(50 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond)
	c := paho.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	go func() { // exits on stop
		defer close(p.done)
		defer c.Disconnect(100)
		for i := 0; ; i++ {
			id := fmt.Sprintf("p-%d", i)
			for {
				select {
				case <-p.stop:
					return
				default:
				}
				tok := c.Publish(topics[i%len(topics)], 1, false, fmt.Sprintf(`{"id":%q}`, id))
				if tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			p.mu.Lock()
			p.acked = append(p.acked, id)
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *publisher) halt() []string {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.acked...)
}

func (p *publisher) sent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// TestReloadUnderLoadLosesNothing publishes continuously through the embedded broker
// into a webhook sink while the configuration is reloaded six times: the sink's URL
// moves to a second server and back, its header and timeout change, a second sink is
// added and removed again with the routes, the source's topics and key change. One
// target fails every 7th request and the other answers slowly, so that sends are in
// flight and events are stored and retried when the swaps come. Every event the
// broker acknowledged reaches a target at least once.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	a := newReceiver(t, 7, 2*time.Millisecond)
	b := newReceiver(t, 0, 5*time.Millisecond)
	audit := newReceiver(t, 0, 0)
	type gen struct {
		url, header, timeout, topics, keyPath string
		audit                                 bool
	}
	yaml := func(g gen) func(dir, broker string) string {
		return func(dir, broker string) string {
			extraSink, routes := "", "[ { from: [plant], to: [hook] } ]"
			if g.audit {
				extraSink = fmt.Sprintf(`
  - { name: audit, type: webhook, url: %q, retry: { initial: 10ms, max: 100ms } }`, audit.srv.URL)
				routes = "[ { from: [plant], to: [hook] }, { name: copy, from: [plant], to: [audit] } ]"
			}
			return fmt.Sprintf(`
store: { path: %s/q.db, drain_timeout: 2s }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: "tcp://%s", topics: %s, key_path: %q, qos: 1 }
sinks:
  - { name: hook, type: webhook, url: %q, headers: { X-Gen: %q }, timeout: %s, retry: { initial: 10ms, max: 100ms } }%s
routes: %s
`, dir, broker, broker, g.topics, g.keyPath, g.url, g.header, g.timeout, extraSink, routes)
		}
	}
	g := gen{url: a.srv.URL, header: "1", timeout: "5s", topics: `["a/#"]`}
	r := newReloadRig(t, yaml(g))
	defer r.stop()
	pub := startPublisher(t, r.brokerAddr, "a/x", "a/y", "a/z")

	steps := []struct {
		change func(*gen)
		want   string
	}{
		{func(g *gen) { g.url = b.srv.URL }, "sinks hook (changed); sources unchanged; routes unchanged"},
		{func(g *gen) { g.header = "2" }, "sinks hook (changed); sources unchanged; routes unchanged"},
		{func(g *gen) { g.topics, g.keyPath = `["a/#", "b/#"]`, "id" }, "sinks unchanged; sources plant (changed); routes unchanged"},
		{func(g *gen) { g.audit = true }, "sinks audit (added); sources unchanged; routes changed"},
		{func(g *gen) { g.timeout = "3s" }, "sinks hook (changed); sources unchanged; routes unchanged"},
		{func(g *gen) { g.url, g.audit, g.header = a.srv.URL, false, "3" }, "sinks hook (changed), audit (removed); sources unchanged; routes changed"},
	}
	for i, s := range steps {
		before := pub.sent()
		require.Eventually(t, func() bool { return pub.sent() >= before+100 }, 30*time.Second, time.Millisecond,
			"events flow before reload %d", i+1)
		s.change(&g)
		err, e := r.reload(yaml(g)(r.dir, r.brokerAddr))
		require.NoError(t, err, "reload %d", i+1)
		require.Equal(t, events.ReloadOK, e.To)
		require.Equal(t, s.want, e.Reason, "reload %d", i+1)
	}
	before := pub.sent()
	require.Eventually(t, func() bool { return pub.sent() >= before+100 }, 30*time.Second, time.Millisecond)
	sent := pub.halt()
	require.Eventually(t, func() bool {
		for _, id := range sent {
			if !a.has(id) && !b.has(id) {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "every acknowledged event reaches a target")
	var missing []string
	for _, id := range sent {
		if !a.has(id) && !b.has(id) {
			missing = append(missing, id)
		}
	}
	require.Empty(t, missing)
	require.Greater(t, b.count(), 0, "the second target took events while it was configured")
	require.Greater(t, audit.count(), 0, "the added sink delivered")
	b.mu.Lock()
	require.True(t, b.headers["2"], "the header change reached the second target")
	b.mu.Unlock()
	a.mu.Lock()
	require.True(t, a.headers["3"], "the last generation is what runs")
	a.mu.Unlock()
	t.Logf("%d events acknowledged, %d at the first target, %d at the second, %d at the audit sink",
		len(sent), a.count(), b.count(), audit.count())
}

// TestReloadInvalidKeepsRunning: a file that does not validate is refused as a whole,
// reported on /ready (config degraded, naming file, line and key), in the STATUS
// line and the metrics, and the old configuration keeps delivering; the next good
// reload clears the condition.
func TestReloadInvalidKeepsRunning(t *testing.T) {
	notify := listenNotify(t)
	t.Setenv("NOTIFY_SOCKET", notify.path)
	hook := newReceiver(t, 0, 0)
	yaml := func(extra string) func(dir, broker string) string {
		return func(dir, broker string) string {
			return fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s }
sources: [ { name: plant, type: mqtt, url: "tcp://%s", topics: ["a/#"], qos: 1 } ]
sinks:
  - { name: hook, type: webhook, url: %q%s }
routes: [ { from: [plant], to: [hook] } ]
`, dir, broker, broker, hook.srv.URL, extra)
		}
	}
	r := newReloadRig(t, yaml(""))
	defer r.stop()
	code, _ := r.ready()
	require.Equal(t, http.StatusNoContent, code)

	err, e := r.reload(yaml(", timeuot: 3s")(r.dir, r.brokerAddr))
	require.Error(t, err)
	require.Equal(t, events.ReloadFailed, e.To)
	require.Contains(t, err.Error(), "edgerelay.yaml")
	require.Contains(t, err.Error(), "line 7")
	require.Contains(t, err.Error(), "timeuot")
	code, body := r.ready()
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"config"`)
	require.Contains(t, body, "reload refused, the previous configuration keeps running")
	require.Contains(t, body, "timeuot")
	require.Eventually(t, func() bool {
		for _, l := range notify.lines() {
			if strings.HasPrefix(l, "STATUS=") && strings.Contains(l, "config degraded (reload refused") {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the STATUS line shows the refused reload")
	m := metricsText(t, r.d)
	require.Contains(t, m, `edgerelay_config_reloads_total{result="failed"} 1`)
	require.Contains(t, m, "edgerelay_config_last_reload_successful 0")

	// The old configuration still relays.
	pub := startPublisher(t, r.brokerAddr, "a/x")
	require.Eventually(t, func() bool { return pub.sent() >= 5 }, 20*time.Second, time.Millisecond)
	sent := pub.halt()
	require.Eventually(t, func() bool {
		for _, id := range sent {
			if !hook.has(id) {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond)

	err, e = r.reload(yaml(", timeout: 3s")(r.dir, r.brokerAddr))
	require.NoError(t, err)
	require.Equal(t, "sinks hook (changed); sources unchanged; routes unchanged", e.Reason)
	code, body = r.ready()
	require.Equal(t, http.StatusNoContent, code, body)
	m = metricsText(t, r.d)
	require.Contains(t, m, `edgerelay_config_reloads_total{result="ok"} 1`)
	require.Contains(t, m, "edgerelay_config_last_reload_successful 1")
	require.Eventually(t, func() bool {
		ls := notify.lines()
		for i := len(ls) - 1; i >= 0; i-- {
			if strings.HasPrefix(ls[i], "STATUS=") {
				return strings.Contains(ls[i], "config reloaded ") && !strings.Contains(ls[i], "config degraded")
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the STATUS line shows the reload")
}

// TestReloadNeedsRestart: a reload that changes http.listen and a sink applies the
// sink and reports http.listen as waiting for a restart; reverting the file clears
// that. A sink removed while its target is down keeps its queued events in the
// store (stranded, reported), and configured again it delivers them.
func TestReloadNeedsRestart(t *testing.T) {
	hook := newReceiver(t, 0, 0)
	var down atomic.Bool
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		hook.srv.Config.Handler.ServeHTTP(w, req)
	}))
	defer flaky.Close()
	down.Store(true)
	keep := newReceiver(t, 0, 0)
	listen := freePort(t)
	yaml := func(listenAddr, url string, withHook bool) func(dir, broker string) string {
		return func(dir, broker string) string {
			sinks := fmt.Sprintf(`[ { name: keep, type: webhook, url: %q } ]`, keep.srv.URL)
			routes := `[ { from: [plant], to: [keep] } ]`
			if withHook {
				sinks = fmt.Sprintf(`[ { name: keep, type: webhook, url: %q }, { name: hook, type: webhook, url: %q, retry: { initial: 10ms, max: 50ms } } ]`,
					keep.srv.URL, url)
				routes = `[ { from: [plant], to: [keep, hook] } ]`
			}
			return fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: %q }
broker: { enabled: "true", listen: %s }
sources: [ { name: plant, type: mqtt, url: "tcp://%s", topics: ["a/#"], qos: 1 } ]
sinks: %s
routes: %s
`, dir, listenAddr, broker, broker, sinks, routes)
		}
	}
	r := newReloadRig(t, yaml(listen, flaky.URL, true))
	defer r.stop()
	pub := startPublisher(t, r.brokerAddr, "a/x")
	require.Eventually(t, func() bool { return pub.sent() >= 10 }, 20*time.Second, time.Millisecond)
	sent := pub.halt()

	err, e := r.reload(yaml(freePort(t), flaky.URL, false)(r.dir, r.brokerAddr))
	require.NoError(t, err)
	require.Equal(t, "sinks hook (removed); sources unchanged; routes changed; needs a restart: http.listen", e.Reason)
	require.Equal(t, listen, r.d.Addr(), "the HTTP server keeps its address")
	code, body := r.ready()
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "applied only after a restart: http.listen")
	require.Contains(t, body, "stranded")
	require.Contains(t, body, `\"hook\": `)

	down.Store(false)
	err, e = r.reload(yaml(listen, flaky.URL, true)(r.dir, r.brokerAddr))
	require.NoError(t, err)
	require.Equal(t, "sinks hook (added); sources unchanged; routes changed", e.Reason)
	require.Eventually(t, func() bool {
		for _, id := range sent {
			if !hook.has(id) {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond, "the events kept in the store reach the sink configured again")
	require.Eventually(t, func() bool { code, _ := r.ready(); return code == http.StatusNoContent },
		10*time.Second, 20*time.Millisecond, "nothing waits for a restart, nothing is stranded")
}

// TestReloadHoldsHTTPSources: a source that serves HTTP (ilert_http on the daemon's
// listener) cannot be swapped live: a reload that changes it applies the rest and
// names it as waiting for a restart, and the running source keeps its settings.
func TestReloadHoldsHTTPSources(t *testing.T) {
	hook := newReceiver(t, 0, 0)
	yaml := func(token, url string) func(dir, broker string) string {
		return func(dir, broker string) string {
			return fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sources: [ { name: ingest, type: ilert_http, token: %q } ]
sinks: [ { name: hook, type: webhook, url: %q } ]
routes: [ { to: [hook] } ]
`, dir, token, url)
		}
	}
	r := newReloadRig(t, yaml("token-one-1234", hook.srv.URL+"/a"))
	defer r.stop()
	err, e := r.reload(yaml("token-two-5678", hook.srv.URL+"/b")(r.dir, r.brokerAddr))
	require.NoError(t, err)
	require.Equal(t, "sinks hook (changed); sources unchanged; routes unchanged; "+
		"needs a restart: source ingest (changed; it serves HTTP)", e.Reason)
	code, body := r.ready()
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "applied only after a restart: source ingest (changed; it serves HTTP)")

	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.d.Addr()+"/api/events",
			strings.NewReader(`{"apiKey":"il1api","eventType":"ALERT","summary":"s","alertKey":"k"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post("token-two-5678"), "the running source keeps its token")
	require.Equal(t, http.StatusOK, post("token-one-1234"))

	// Back to what runs: nothing waits for a restart any more.
	err, e = r.reload(yaml("token-one-1234", hook.srv.URL+"/b")(r.dir, r.brokerAddr))
	require.NoError(t, err)
	require.Equal(t, "sinks unchanged; sources unchanged; routes unchanged", e.Reason)
	require.Eventually(t, func() bool { code, _ := r.ready(); return code == http.StatusNoContent },
		10*time.Second, 20*time.Millisecond)
}

// TestReloadRenameSourceLosesNothing renames the embedded broker's source (plant
// removed, site added, the routes following) while a slow sink is removed in the
// same reload, so that the removal drains for a while: the old source must not
// acknowledge an event the new routes no longer route (they name site only), and
// the embedded broker must not acknowledge a message while neither source is
// attached. Every acknowledged event reaches the fast sink.
func TestReloadRenameSourceLosesNothing(t *testing.T) {
	hook := newReceiver(t, 0, 0)
	slow := newReceiver(t, 0, 1500*time.Millisecond)
	before := func(dir, broker string) string {
		return fmt.Sprintf(`
store: { path: %s/q.db, drain_timeout: 2s }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s }
sources: [ { name: plant, type: mqtt, url: "tcp://%s", topics: ["a/#"], qos: 1 } ]
sinks:
  - { name: hook, type: webhook, url: %q, retry: { initial: 10ms, max: 100ms } }
  - { name: slow, type: webhook, url: %q, max_in_flight: 4, retry: { initial: 10ms, max: 100ms } }
routes: [ { from: [plant], to: [hook, slow] } ]
`, dir, broker, broker, hook.srv.URL, slow.srv.URL)
	}
	after := func(dir, broker string) string {
		return fmt.Sprintf(`
store: { path: %s/q.db, drain_timeout: 2s }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s }
sources: [ { name: site, type: mqtt, url: "tcp://%s", topics: ["a/#"], qos: 1 } ]
sinks:
  - { name: hook, type: webhook, url: %q, retry: { initial: 10ms, max: 100ms } }
routes: [ { from: [site], to: [hook] } ]
`, dir, broker, broker, hook.srv.URL)
	}
	r := newReloadRig(t, before)
	defer r.stop()
	pub := startPublisher(t, r.brokerAddr, "a/x", "a/y")
	require.Eventually(t, func() bool { return pub.sent() >= 20 }, 30*time.Second, time.Millisecond)
	err, e := r.reload(after(r.dir, r.brokerAddr))
	require.NoError(t, err)
	require.Equal(t, "sinks slow (removed); sources site (added), plant (removed); routes changed", e.Reason)
	n := pub.sent()
	require.Eventually(t, func() bool { return pub.sent() >= n+20 }, 30*time.Second, time.Millisecond,
		"events flow through the renamed source")
	sent := pub.halt()
	require.Eventually(t, func() bool {
		for _, id := range sent {
			if !hook.has(id) {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "every acknowledged event reaches the sink")
}

// TestReloadHeldSourceKeepsItsRoutes: a source that serves HTTP removed from the
// file, with its routes (the file cannot keep a route from a source it no longer
// has), keeps running until a restart, and keeps its routes too: what it answers
// 200 for still reaches the sink instead of being dropped as unrouted.
func TestReloadHeldSourceKeepsItsRoutes(t *testing.T) {
	hook := newReceiver(t, 0, 0)
	yaml := func(withIngest bool) func(dir, broker string) string {
		return func(dir, broker string) string {
			other := `{ name: other, type: mqtt, url: "tcp://127.0.0.1:1", topics: ["x/#"], qos: 1 }`
			srcs := `[ { name: ingest, type: ilert_http, token: "token-one-1234" }, ` + other + ` ]`
			routes := `[ { from: [ingest], to: [hook] }, { from: [other], to: [hook] } ]`
			if !withIngest {
				srcs, routes = `[ `+other+` ]`, `[ { from: [other], to: [hook] } ]`
			}
			return fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sources: %s
sinks: [ { name: hook, type: webhook, url: %q } ]
routes: %s
`, dir, srcs, hook.srv.URL, routes)
		}
	}
	r := newReloadRig(t, yaml(true))
	defer r.stop()
	err, e := r.reload(yaml(false)(r.dir, r.brokerAddr))
	require.NoError(t, err)
	require.Equal(t, "sinks unchanged; sources unchanged; routes changed; "+
		"needs a restart: source ingest (removed; it serves HTTP)", e.Reason)

	req, _ := http.NewRequest(http.MethodPost, "http://"+r.d.Addr()+"/api/events",
		strings.NewReader(`{"apiKey":"il1api","eventType":"ALERT","summary":"s","alertKey":"k","id":"held-1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer token-one-1234")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the held source still answers")
	require.Eventually(t, func() bool { return hook.reqs.Load() > 0 }, 10*time.Second, 10*time.Millisecond,
		"its event reaches the sink by the routes it was configured with")
}

// TestReloadDropsReplacedSinkCleanups: a sink a reload replaces is closed then, and
// its shutdown step goes with it: many reloads do not grow the shutdown list.
func TestReloadDropsReplacedSinkCleanups(t *testing.T) {
	hook := newReceiver(t, 0, 0)
	yaml := func(gen int) func(dir, broker string) string {
		return func(dir, broker string) string {
			return fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s }
sources: [ { name: plant, type: mqtt, url: "tcp://%s", topics: ["a/#"], qos: 1 } ]
sinks: [ { name: hook, type: webhook, url: %q, headers: { X-Gen: "%d" } } ]
routes: [ { from: [plant], to: [hook] } ]
`, dir, broker, broker, hook.srv.URL, gen)
		}
	}
	r := newReloadRig(t, yaml(0))
	defer r.stop()
	before := daemon.StopCount(r.d)
	for gen := 1; gen <= 20; gen++ {
		err, _ := r.reload(yaml(gen)(r.dir, r.brokerAddr))
		require.NoError(t, err)
	}
	require.Equal(t, before, daemon.StopCount(r.d))
}
