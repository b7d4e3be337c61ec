package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// The end-to-end tests run the real binary: the test executable re-executes itself
// as edgerelay when EDGERELAY_TEST_MAIN is set, so that a child can be SIGKILLed.
func TestMain(m *testing.M) {
	if os.Getenv("EDGERELAY_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
	}
	// The tests mean the built-in default when they give no -c: a machine's own
	// /etc/edgerelay/edgerelay.yaml must not take its place (TestConfigResolution
	// sets its own).
	if os.Getenv("EDGERELAY_SYSTEM_CONFIG") == "" {
		os.Setenv("EDGERELAY_SYSTEM_CONFIG", "/nonexistent/edgerelay-tests/edgerelay.yaml")
	}
	os.Exit(m.Run())
}

// daemonProc is a child edgerelay process.
type daemonProc struct {
	cmd    *exec.Cmd
	stderr *adaptertest.Buffer
	done   chan struct{}
}

func startDaemon(t *testing.T, env []string, args ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "EDGERELAY_TEST_MAIN=1"), env...)
	p := &daemonProc{cmd: cmd, stderr: &adaptertest.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = io.Discard
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.done) }() // exits when the child does
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *daemonProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *daemonProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitHTTP(t *testing.T, p *daemonProc, url string, want ...int) {
	t.Helper()
	waitUntil(t, url+" to answer", 20*time.Second, func() bool {
		if p.exited() {
			t.Fatalf("daemon exited early:\n%s", p.stderr.String())
		}
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return slices.Contains(want, resp.StatusCode)
	})
}

// waitReady waits until the daemon is ready: /ready answers 204 (all well) or 200
// (ready, something degraded, such as a sink that is retrying).
func waitReady(t *testing.T, p *daemonProc, url string) {
	t.Helper()
	waitHTTP(t, p, url, http.StatusNoContent, http.StatusOK)
}

// target is the webhook peer: it answers 503 until opened, then 200, and counts
// every event id it accepts.
type target struct {
	srv  *httptest.Server
	open atomic.Bool
	mu   sync.Mutex // guards seen
	seen map[string]int
	hits atomic.Int64
}

func newTarget(t *testing.T) *target {
	tg := &target{seen: map[string]int{}}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		if !tg.open.Load() {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		var body struct {
			ID string `json:"id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ID == "" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		tg.mu.Lock()
		tg.seen[body.ID]++
		tg.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// countSeen returns how many ids a receiver's tally holds and how many deliveries
// repeated one (every e2e receiver keeps its tally as id → times seen).
func countSeen(seen map[string]int) (unique, dups int) {
	for _, n := range seen {
		unique++
		dups += n - 1
	}
	return unique, dups
}

// missingSeen returns the ids of ids the tally never saw.
func missingSeen(seen map[string]int, ids []string) []string {
	var out []string
	for _, id := range ids {
		if seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func (tg *target) counts() (unique, dups int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return countSeen(tg.seen)
}

func (tg *target) missing(ids []string) []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return missingSeen(tg.seen, ids)
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "edgerelay.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func mqttClient(t *testing.T, broker, id string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + broker).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetMaxReconnectInterval(time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "connect to %s timed out", broker)
	require.NoError(t, tok.Error())
	return c
}

// publisher publishes events at QoS 1 and remembers which the broker acknowledged.
type publisher struct {
	topic string
	mu    sync.Mutex // guards acked
	acked map[string]bool
}

func (p *publisher) ackedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

func (p *publisher) isAcked(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked[id]
}

// publishAll publishes every id not yet acknowledged, with at most window in flight,
// until all are acknowledged or the connection breaks (the daemon was killed).
func (p *publisher) publishAll(c paho.Client, ids []string, window int, stop func() bool) {
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	for i, id := range ids {
		if p.isAcked(id) {
			continue
		}
		if stop != nil && stop() {
			break
		}
		sem <- struct{}{}
		body := fmt.Sprintf(`{"id":%q,"key":"k%d","summary":"pressure high","n":%d}`, id, i%50, i)
		tok := c.Publish(p.topic, 1, false, body)
		wg.Add(1)
		go func(id string) { // exits when the publish completes or times out
			defer wg.Done()
			defer func() { <-sem }()
			if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
				p.mu.Lock()
				p.acked[id] = true
				p.mu.Unlock()
			}
		}(id)
		if !c.IsConnectionOpen() {
			break
		}
	}
	wg.Wait()
}

func eventIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("ev-%05d", i)
	}
	return ids
}

// TestZeroLossEmbeddedBrokerKill is issue requirement 6(a): 10,000 QoS 1 events
// through the embedded broker while the webhook answers 503; SIGKILL mid-flow;
// restart; the target recovers; every event arrives.
func TestZeroLossEmbeddedBrokerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	const n = 10000
	dir := t.TempDir()
	tg := newTarget(t)
	brokerAddr, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: tcp://%s, topics: ["plant/#"], qos: 1, key_path: key }
sinks:
  - name: hook
    type: webhook
    url: %s
    retry: { initial: 20ms, max: 200ms }
routes:
  - { from: [plant], topics: ["plant/#"], to: [hook], require_json: true }
`, dir, httpAddr, brokerAddr, brokerAddr, tg.srv.URL))

	ids := eventIDs(n)
	pub := &publisher{topic: "plant/line1/alarms", acked: map[string]bool{}}

	d := startDaemon(t, nil, "run", "-c", cfg)
	waitHTTP(t, d, "http://"+httpAddr+"/health", http.StatusNoContent)
	c := mqttClient(t, brokerAddr, "plc-1")
	killed := make(chan struct{})
	go func() { // exits after the kill
		defer close(killed)
		waitUntil(t, "3000 acknowledgements", 60*time.Second, func() bool { return pub.ackedCount() >= 3000 })
		d.kill()
	}()
	pub.publishAll(c, ids, 200, func() bool { return d.exited() })
	<-killed
	c.Disconnect(0)
	before := pub.ackedCount()
	require.Less(t, before, n, "the kill must land mid-flow")
	t.Logf("killed the daemon after %d of %d events were acknowledged", before, n)

	d2 := startDaemon(t, nil, "run", "-c", cfg)
	waitHTTP(t, d2, "http://"+httpAddr+"/health", http.StatusNoContent)
	c2 := mqttClient(t, brokerAddr, "plc-1")
	pub.publishAll(c2, ids, 200, nil)
	require.Equal(t, n, pub.ackedCount(), "every event is eventually acknowledged by the relay")
	tg.open.Store(true)
	waitUntil(t, "every event at the target", 120*time.Second, func() bool {
		u, _ := tg.counts()
		return u == n
	})
	u, dups := tg.counts()
	t.Logf("delivered %d unique events, %d duplicates, 0 lost", u, dups)
	require.Empty(t, tg.missing(ids))
	c2.Disconnect(100)
}

// startMosquitto runs a private instance of the machine's Mosquitto on a free port,
// configured to queue without limit for offline persistent sessions (the packaged
// default drops messages past 1000, which would be Mosquitto's loss, not ours).
func startMosquitto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if bin = "/usr/sbin/mosquitto"; !fileExists(bin) {
			adaptertest.Missing(t, "needs the mosquitto binary (apt-get install mosquitto; CI installs it in .ci/services.sh)")
		}
	}
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	require.NoError(t, os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\n"+
		"persistence false\nmax_queued_messages 0\nlog_dest stderr\nlog_type error\n"), 0o600))
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitUntil(t, "mosquitto to listen", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// TestZeroLossMosquittoKill is issue requirement 6(b): the same through the machine's
// Mosquitto, with the relay as a persistent-session subscriber: 10,000 QoS 1 events
// published while the webhook answers 503, the relay SIGKILLed mid-flow and
// restarted, every event delivered once the target recovers.
func TestZeroLossMosquittoKill(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	mosq := startMosquitto(t)
	const n = 10000
	dir := t.TempDir()
	tg := newTarget(t)
	httpAddr := freePort(t)
	topic := "plant/line1/alarms"
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "false" }
sources:
  - { name: site, type: mqtt, url: tcp://%s, client_id: edgerelay-kill-test, topics: [%q], qos: 1, key_path: key }
sinks:
  - name: hook
    type: webhook
    url: %s
    retry: { initial: 20ms, max: 200ms }
routes:
  - { from: [site], to: [hook] }
`, dir, httpAddr, mosq, topic, tg.srv.URL))

	ids := eventIDs(n)
	pub := &publisher{topic: topic, acked: map[string]bool{}}
	d := startDaemon(t, nil, "run", "-c", cfg)
	waitReady(t, d, "http://"+httpAddr+"/ready") // subscribed
	c := mqttClient(t, mosq, "plc-1")
	defer c.Disconnect(100)

	// Kill the relay while it is taking events in; the publisher carries on and
	// Mosquitto queues for the relay's persistent session meanwhile. Mid-flow is the
	// relay's intake, not the publisher's progress: on a loaded machine the publisher
	// may be done before the relay has read a quarter, and Mosquitto holds the rest.
	type kill struct {
		in        float64
		published int
	}
	killed := make(chan kill)
	go func() { // exits after the kill
		var in float64
		waitUntil(t, "the relay to take in events", 60*time.Second, func() bool {
			in = scrape(t, httpAddr, `edgerelay_events_in_total{source="site"}`)
			return in >= 2500
		})
		d.kill()
		killed <- kill{in, pub.ackedCount()}
	}()
	pub.publishAll(c, ids, 200, nil)
	at := <-killed
	require.Less(t, at.in, float64(n), "the kill must land mid-flow: the relay had taken in every event")
	t.Logf("killed the relay with %.0f of %d events taken in, %d published", at.in, n, at.published)
	require.Equal(t, n, pub.ackedCount(), "Mosquitto acknowledged every publish")

	d2 := startDaemon(t, nil, "run", "-c", cfg)
	waitReady(t, d2, "http://"+httpAddr+"/ready")
	tg.open.Store(true)
	waitUntil(t, "every event at the target", 120*time.Second, func() bool {
		u, _ := tg.counts()
		return u == n
	})
	u, dups := tg.counts()
	t.Logf("delivered %d unique events, %d duplicates, 0 lost", u, dups)
	require.Empty(t, tg.missing(ids))
}

// scrape returns the value of one metric line from /metrics, or -1.
func scrape(t *testing.T, addr, metric string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, metric+" ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(line, metric+" "), "%g", &v)
			return v
		}
	}
	return -1
}
