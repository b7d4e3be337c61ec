package edge_test

// ilagent's edge scenarios (91–105 of its behaviour) through the whole daemon: the
// ilert_edge source polling the ilert API fake, the pipeline and store, and the real
// sinks (webhook to an httptest target, stdout).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgerelay/edgerelay/adapters"
	_ "github.com/edgerelay/edgerelay/adapters/all"
	"github.com/edgerelay/edgerelay/adapters/ilert/edge"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/broker"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/store"
)

const key = "iec1:test-key"

// poll is the poll interval of these tests: real time, so short.
const poll = 100 * time.Millisecond

func TestMain(m *testing.M) {
	undo := edge.SetMinInterval(10 * time.Millisecond)
	code := m.Run()
	undo()
	os.Exit(code)
}

// hit is one request the target received.
type hit struct {
	Header http.Header
	Method string
	Body   string
}

// target is the local HTTP system the edge items are delivered to.
type target struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	status func(n int, h hit) int // the answer to the n-th request (from 0); nil: 200
}

func newTarget(t *testing.T, status func(n int, h hit) int) *target {
	tg := &target{status: status}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h := hit{Header: r.Header.Clone(), Method: r.Method, Body: string(b)}
		tg.mu.Lock()
		n := len(tg.hits)
		tg.hits = append(tg.hits, h)
		tg.mu.Unlock()
		code := http.StatusOK
		if tg.status != nil {
			code = tg.status(n, h)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) got() []hit {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]hit(nil), tg.hits...)
}

// ok returns the item ids the target answered 2xx, in order.
func (tg *target) items(pred func(h hit) bool) []string {
	var ids []string
	for _, h := range tg.got() {
		if pred == nil || pred(h) {
			ids = append(ids, h.Header.Get("X-ilert-Edge-Item-Id"))
		}
	}
	return ids
}

// run is one daemon run.
type run struct {
	d    *daemon.Daemon
	stop func()
	path string
}

// startDaemon runs the daemon with the given sources and sinks sections (each
// indented as list entries) and a route from edge to every sink in to.
func startDaemon(t *testing.T, dir, sources, sinks, to string) *run {
	t.Helper()
	path := filepath.Join(dir, "q.db")
	doc := fmt.Sprintf("store: { path: %s }\nhttp: { listen: \"127.0.0.1:0\" }\nbroker: { enabled: \"false\" }\n"+
		"sources:\n%ssinks:\n%sroutes:\n  - { from: [edge], to: [%s] }\n", path, sources, sinks, to)
	cfg, err := config.Parse([]byte(doc), "edge.yaml")
	require.NoError(t, err, doc)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "9.9.9"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	r := &run{d: d, path: path}
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("the daemon did not stop")
		}
	}
	t.Cleanup(r.stop)
	return r
}

func edgeSource(fake *ilerttest.Server, extra string) string {
	return fmt.Sprintf("  - name: edge\n    type: ilert_edge\n    api_host: %s\n    key: %q\n    poll_interval: %s\n    standby_interval: %s\n%s",
		fake.URL(), key, poll, poll, extra)
}

func webhookSink(tg *target, extra string) string {
	return fmt.Sprintf("  - name: hook\n    type: webhook\n    url: %s\n    retry: { initial: 20ms, max: 100ms }\n%s", tg.URL, extra)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 10*time.Millisecond, what)
}

// lastPoll returns the last answered poll.
func lastPoll(fake *ilerttest.Server) ilerttest.EdgePoll {
	p := fake.EdgePolls()
	if len(p) == 0 {
		return ilerttest.EdgePoll{AfterID: -1}
	}
	return p[len(p)-1]
}

// deadLetter is one dead letter: the event id and the reason.
type deadLetter struct{ ID, Reason string }

// dead returns the dead letters of sink after the daemon stopped.
func dead(t *testing.T, path, sink string) []deadLetter {
	db, err := store.OpenReadOnly(path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	var out []deadLetter
	require.NoError(t, db.ScanDead(sink, 0, 100, func(d store.Dead) error {
		var e adapters.Event
		if err := e.UnmarshalBinary(d.Data); err != nil {
			return err
		}
		out = append(out, deadLetter{e.ID, d.Reason})
		return nil
	}))
	return out
}

// Scenario 91: 2 items → 2 POSTs, the cursor moves to 2, the next poll uses after-id=2,
// the daemon is ready.
func TestScenario91(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(key, 2, nil)
	tg := newTarget(t, nil)
	r := startDaemon(t, t.TempDir(), edgeSource(fake, ""), webhookSink(tg, ""), "hook")
	eventually(t, "2 deliveries", func() bool { return len(tg.got()) == 2 })
	eventually(t, "a poll with after-id=2", func() bool { return lastPoll(fake).AfterID == 2 })
	require.ElementsMatch(t, []string{"1", "2"}, tg.items(nil), "two alerts: no order between them")
	first := fake.EdgePolls()[0]
	require.Equal(t, int64(0), first.AfterID)
	require.Equal(t, key, first.Key)
	require.Equal(t, "edgerelay/9.9.9", fake.Requests()[0].Header.Get("User-Agent"))
	ready, _ := r.d.Health().Ready()
	require.True(t, ready)
}

// Scenario 92 and a restart: the cursor survives in the store, 10 → 20.
func TestScenario92CursorInStore(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(key, 10, nil)
	tg := newTarget(t, nil)
	dir := t.TempDir()
	r := startDaemon(t, dir, edgeSource(fake, ""), webhookSink(tg, ""), "hook")
	eventually(t, "10 deliveries", func() bool { return len(tg.got()) == 10 })
	eventually(t, "after-id=10", func() bool { return lastPoll(fake).AfterID == 10 })
	r.stop()
	fake.AddEdgeItems(key, 10, nil)
	fake.Reset()
	startDaemon(t, dir, edgeSource(fake, ""), webhookSink(tg, ""), "hook")
	eventually(t, "20 deliveries", func() bool { return len(tg.got()) == 20 })
	require.Equal(t, int64(10), fake.EdgePolls()[0].AfterID, "the restart resumed from the stored cursor")
	eventually(t, "after-id=20", func() bool { return lastPoll(fake).AfterID == 20 })
}

// Scenario 93, changed by design: the target answers 200, then 500. ilagent keeps the
// cursor at 1 and polls again; edgerelay acknowledges on storage, so the cursor moves
// past the stored items (after-id=3) and the outbox retries the delivery until the
// target recovers. Nothing is lost, order per alert id is kept.
func TestScenario93StoredAdvances(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdge(key, ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":"A","eventType":"alert-created"}`)},
		ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":"A","eventType":"alert-accepted"}`)},
		ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":"A","eventType":"alert-resolved"}`)})
	var mu sync.Mutex
	down := true
	tg := newTarget(t, func(n int, _ hit) int {
		mu.Lock()
		defer mu.Unlock()
		if n >= 1 && down {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	startDaemon(t, t.TempDir(), edgeSource(fake, ""), webhookSink(tg, ""), "hook")
	eventually(t, "the cursor past the stored items", func() bool { return lastPoll(fake).AfterID == 3 })
	eventually(t, "retries", func() bool { return len(tg.got()) >= 4 })
	mu.Lock()
	down = false
	mu.Unlock()
	ok := func(h hit) bool { return true }
	eventually(t, "all three delivered", func() bool {
		ids := tg.items(ok)
		return len(ids) > 0 && ids[len(ids)-1] == "3"
	})
	// every answered request in order: 1, then 2 until it succeeded, then 3
	ids := tg.items(nil)
	require.Equal(t, "1", ids[0])
	require.Equal(t, "3", ids[len(ids)-1])
	for _, id := range ids[1 : len(ids)-1] {
		require.Equal(t, "2", id, "order per alert id: 3 waits for 2")
	}
}

// Scenario 94: item 2 gets a 400 → dead-lettered with the reason, not only skipped;
// the cursor reaches 3 and 2 items are delivered.
func TestScenario94DeadLetter(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(key, 3, nil)
	tg := newTarget(t, func(_ int, h hit) int {
		if h.Header.Get("X-ilert-Edge-Item-Id") == "2" {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	r := startDaemon(t, t.TempDir(), edgeSource(fake, ""), webhookSink(tg, ""), "hook")
	eventually(t, "3 requests", func() bool { return len(tg.got()) == 3 })
	eventually(t, "after-id=3", func() bool { return lastPoll(fake).AfterID == 3 })
	time.Sleep(3 * poll) // no retry of the 400
	require.Len(t, tg.got(), 3)
	r.stop()
	dl := dead(t, r.path, "hook")
	require.Len(t, dl, 1)
	require.Equal(t, "edge-2", dl[0].ID)
	require.Contains(t, dl[0].Reason, "400")
}

// Item 4 of the issue: the edge HTTP status rules of the webhook sink. 2xx ok; 429
// and 5xx retried; other 4xx dead-lettered with the reason.
func TestEdgeHTTPStatusRules(t *testing.T) {
	answers := map[string][]int{ // item id → answers in turn, then 200
		"1": {429},
		"2": {503, 502},
		"3": {404},
		"4": {204},
		"5": {422},
		"6": {500},
	}
	var mu sync.Mutex
	tg := newTarget(t, func(_ int, h hit) int {
		mu.Lock()
		defer mu.Unlock()
		id := h.Header.Get("X-ilert-Edge-Item-Id")
		if a := answers[id]; len(a) > 0 {
			answers[id] = a[1:]
			return a[0]
		}
		return http.StatusOK
	})
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(key, 6, func(id int64) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"id":"%d","eventType":"alert-created"}`, id)) // one alert per item
	})
	r := startDaemon(t, t.TempDir(), edgeSource(fake, ""), webhookSink(tg, ""), "hook")
	eventually(t, "every answer used", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range answers {
			if len(a) > 0 {
				return false
			}
		}
		return true
	})
	eventually(t, "retried items delivered", func() bool {
		n := map[string]int{}
		for _, id := range tg.items(nil) {
			n[id]++
		}
		return n["1"] == 2 && n["2"] == 3 && n["6"] == 2
	})
	time.Sleep(3 * poll)
	n := map[string]int{}
	for _, id := range tg.items(nil) {
		n[id]++
	}
	require.Equal(t, map[string]int{"1": 2, "2": 3, "3": 1, "4": 1, "5": 1, "6": 2}, n)
	r.stop()
	reasons := map[string]string{}
	for _, d := range dead(t, r.path, "hook") {
		reasons[d.ID] = d.Reason
	}
	require.Len(t, reasons, 2)
	require.Contains(t, reasons["edge-3"], "404")
	require.Contains(t, reasons["edge-5"], "422")
}

// Scenarios 95 and 102: the X-ilert-* headers, Content-Type, and the auth header on
// every delivery.
func TestScenario95And102Headers(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdge(key, ilerttest.EdgeItem{ID: 42, Payload: json.RawMessage(`{"id":"999","eventType":"alert-created","summary":"s"}`)},
		ilerttest.EdgeItem{ID: 43, Payload: json.RawMessage(`{"id":1000,"eventType":"alert-resolved"}`)})
	tg := newTarget(t, nil)
	startDaemon(t, t.TempDir(), edgeSource(fake, ""),
		webhookSink(tg, "    auth_header: X-API-Key\n    auth_value: my-secret-token\n"), "hook")
	eventually(t, "2 deliveries", func() bool { return len(tg.got()) == 2 })
	h := tg.got()
	if h[0].Header.Get("X-ilert-Edge-Item-Id") != "42" { // two alerts, no order between them
		h[0], h[1] = h[1], h[0]
	}
	require.Equal(t, "alert-created", h[0].Header.Get("X-ilert-Event-Type"))
	require.Equal(t, "999", h[0].Header.Get("X-ilert-Alert-Id"))
	require.Equal(t, "42", h[0].Header.Get("X-ilert-Edge-Item-Id"))
	require.Equal(t, "application/json", h[0].Header.Get("Content-Type"))
	require.Equal(t, http.MethodPost, h[0].Method)
	require.JSONEq(t, `{"id":"999","eventType":"alert-created","summary":"s"}`, h[0].Body)
	require.Equal(t, "1000", h[1].Header.Get("X-ilert-Alert-Id"), "a numeric alert id is sent as its text")
	for _, x := range h {
		require.Equal(t, "my-secret-token", x.Header.Get("X-API-Key"))
	}
}

// Scenario 96 through the daemon: a 401 makes the daemon not ready, naming the
// source's auth condition; nothing is delivered.
func TestScenario96NotReady(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems("another-key", 1, nil)
	tg := newTarget(t, nil)
	r := startDaemon(t, t.TempDir(), edgeSource(fake, ""), webhookSink(tg, ""), "hook")
	eventually(t, "not ready for auth", func() bool {
		ready, conds := r.d.Health().Ready()
		for _, c := range conds {
			if c.Component == "source:edge" && c.Name == edge.CondAuth && !c.OK && c.Severity == health.Critical &&
				strings.Contains(c.Detail, "authentication failed") {
				return !ready
			}
		}
		return false
	})
	require.Empty(t, tg.got())
}

// Scenarios 97 and 98 through the daemon: a standby delivers nothing and stays ready
// (a degraded role condition); the leader delivers, reports last-processed-id, and
// acknowledges only deliveries (ack: delivered): while the target fails,
// last-processed-id does not move.
func TestScenario97And98HA(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.SetEdgeLease(time.Hour)
	fake.AddEdge(key, ilerttest.EdgeItem{ID: 5})
	var mu sync.Mutex
	failing := true
	tg := newTarget(t, func(int, hit) int {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	ha := "    cluster_id: test-cluster\n    instance_id: %s\n"
	leader := startDaemon(t, t.TempDir(), edgeSource(fake, fmt.Sprintf(ha, "node-1")), webhookSink(tg, ""), "hook")
	eventually(t, "node-1 leads", func() bool { return fake.EdgeCluster(key, "test-cluster").Leader == "node-1" })
	standby := startDaemon(t, t.TempDir(), edgeSource(fake, fmt.Sprintf(ha, "node-2")), webhookSink(tg, ""), "hook")
	eventually(t, "node-2 polls as standby", func() bool {
		p := lastPoll(fake)
		return p.InstanceID == "node-2" && p.Role == ilerttest.RoleStandby
	})
	eventually(t, "failed deliveries", func() bool { return len(tg.got()) >= 2 })
	for _, p := range fake.EdgePolls() {
		if p.InstanceID == "node-1" {
			require.Equal(t, int64(-1), p.LastProcessedID, "nothing delivered yet: no last-processed-id")
		}
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	eventually(t, "last-processed-id=5", func() bool {
		p := lastPoll(fake)
		return p.InstanceID == "node-1" && p.LastProcessedID == 5
	})
	require.Equal(t, int64(5), fake.EdgeCluster(key, "test-cluster").Cursor)
	for _, h := range tg.got() {
		require.Equal(t, "5", h.Header.Get("X-ilert-Edge-Item-Id"), "only the leader delivers")
	}
	ready, _ := standby.d.Health().Ready()
	require.True(t, ready, "a standby stays ready")
	conds := standby.d.Health().Snapshot()
	var role *health.Condition
	for i, c := range conds {
		if c.Component == "source:edge" && c.Name == "role" {
			role = &conds[i]
		}
	}
	require.NotNil(t, role)
	require.False(t, role.OK)
	require.Equal(t, health.Degraded, role.Severity)
	require.Contains(t, role.Detail, "standby")
	ready, _ = leader.d.Health().Ready()
	require.True(t, ready)
	leader.stop()
	standby.stop()
	st := dead(t, leader.path, "hook")
	require.Empty(t, st)
}

// Scenario 105: stdout mode, 2 items → 2 lines, the cursor 2.
func TestScenario105Stdout(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdout
	os.Stdout = pw
	t.Cleanup(func() { os.Stdout = old })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(key, 2, nil)
	r := startDaemon(t, t.TempDir(), edgeSource(fake, ""), "  - name: out\n    type: stdout\n", "out")
	os.Stdout = old
	var got []string
	for range 2 {
		select {
		case l := <-lines:
			got = append(got, l)
		case <-time.After(20 * time.Second):
			t.Fatal("no stdout line")
		}
	}
	eventually(t, "after-id=2", func() bool { return lastPoll(fake).AfterID == 2 })
	r.stop()
	_ = pw.Close()
	for i, l := range got {
		var line struct {
			ID      string          `json:"id"`
			Payload json.RawMessage `json:"payload"`
		}
		require.NoError(t, json.Unmarshal([]byte(l), &line))
		require.Equal(t, fmt.Sprintf("edge-%d", i+1), line.ID)
		require.JSONEq(t, string(ilerttest.DefaultEdgePayload(int64(i+1))), string(line.Payload))
	}
}

// Item 4 of the issue: a target that always fails does not block the site forever:
// after retry.max_attempts the item is dead-lettered with the reason, the later items
// of the same alert are delivered, and polling never stopped.
func TestEdgeGiveUpAfterMaxAttempts(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdge(key, ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":"A","eventType":"alert-created"}`)},
		ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":"A","eventType":"alert-resolved"}`)})
	tg := newTarget(t, func(_ int, h hit) int {
		if h.Header.Get("X-ilert-Edge-Item-Id") == "1" {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	sink := fmt.Sprintf("  - name: hook\n    type: webhook\n    url: %s\n    retry: { initial: 10ms, max: 20ms, max_attempts: 3 }\n", tg.URL)
	r := startDaemon(t, t.TempDir(), edgeSource(fake, ""), sink, "hook")
	eventually(t, "item 2 delivered after item 1 gave up", func() bool {
		ids := tg.items(nil)
		return len(ids) > 0 && ids[len(ids)-1] == "2"
	})
	require.Equal(t, []string{"1", "1", "1", "2"}, tg.items(nil))
	eventually(t, "polling went on", func() bool { return lastPoll(fake).AfterID == 2 })
	r.stop()
	dl := dead(t, r.path, "hook")
	require.Len(t, dl, 1)
	require.Equal(t, "edge-1", dl[0].ID)
	require.Contains(t, dl[0].Reason, "503")
}

// Scenario 103, Kafka mode: 2 items → 2 records on the topic keyed by the alert id
// ("42"; a numeric id is keyed by its text too, where ilagent sends ""), the
// payload's eventType and summary in the value, the cursor at 2. The kafka sink runs
// against franz-go's in-process kfake broker.
func TestScenario103Kafka(t *testing.T) {
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "edge-events"))
	require.NoError(t, err)
	t.Cleanup(kf.Close)
	fake := ilerttest.NewServer(t)
	fake.AddEdge(key,
		ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":"42","summary":"pump 7 down","eventType":"alert-created"}`)},
		ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":42,"summary":"pump 7 ok","eventType":"alert-resolved"}`)})
	sink := fmt.Sprintf("  - name: kq\n    type: kafka\n    brokers: [%q]\n    topic: edge-events\n    retry: { initial: 20ms, max: 100ms }\n", kf.ListenAddrs()[0])
	r := startDaemon(t, t.TempDir(), edgeSource(fake, ""), sink, "kq")
	eventually(t, "a poll with after-id=2", func() bool { return lastPoll(fake).AfterID == 2 })

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cons, err := sarama.NewConsumer(kf.ListenAddrs(), cfg)
	require.NoError(t, err)
	defer cons.Close()
	pc, err := cons.ConsumePartition("edge-events", 0, sarama.OffsetOldest)
	require.NoError(t, err)
	defer pc.Close()
	type rec struct{ Key, EventType, Summary, ItemID string }
	var got []rec
	for len(got) < 2 {
		select {
		case m := <-pc.Messages():
			var p struct{ EventType, Summary string }
			require.NoError(t, json.Unmarshal(m.Value, &p))
			r := rec{Key: string(m.Key), EventType: p.EventType, Summary: p.Summary}
			for _, h := range m.Headers {
				if string(h.Key) == "X-ilert-Edge-Item-Id" {
					r.ItemID = string(h.Value)
				}
			}
			got = append(got, r)
		case <-time.After(20 * time.Second):
			t.Fatalf("2 records on the topic; got %v", got)
		}
	}
	require.Equal(t, []rec{{"42", "alert-created", "pump 7 down", "1"}, {"42", "alert-resolved", "pump 7 ok", "2"}}, got,
		"one alert: both on its key, in order")
	// The cursor: the poll after the batch asked for after-id=2 (above).
	r.stop()
}

// allowAll is a Mochi hook that lets every client connect and use every topic.
type allowAll struct{ mochi.HookBase }

func (allowAll) ID() string { return "allow-all" }
func (allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (allowAll) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (allowAll) OnACLCheck(*mochi.Client, string, bool) bool              { return true }

// Scenario 104, MQTT mode at QoS 1: 1 item → 1 message on edge/delivery/test with
// id 99, the cursor at 1. The mqtt sink publishes to an in-process Mochi broker and
// counts the item delivered only on that message's own PUBACK.
func TestScenario104MQTT(t *testing.T) {
	site := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, site.AddHook(new(allowAll), nil))
	tcp := listeners.NewTCP(listeners.Config{ID: "site", Address: "127.0.0.1:0"})
	require.NoError(t, site.AddListener(tcp))
	require.NoError(t, site.Serve())
	t.Cleanup(func() { stopSite(t, site) })

	got := make(chan paho.Message, 4)
	o := paho.NewClientOptions().AddBroker("tcp://" + tcp.Address()).SetClientID("site-consumer").SetAutoReconnect(false)
	sub := paho.NewClient(o)
	tok := sub.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { sub.Disconnect(100) })
	tok = sub.Subscribe("edge/#", 1, func(_ paho.Client, m paho.Message) { got <- m })
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())

	fake := ilerttest.NewServer(t)
	fake.AddEdge(key, ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":"99","summary":"valve 3","eventType":"alert-created"}`)})
	sink := fmt.Sprintf("  - name: mq\n    type: mqtt\n    url: tcp://%s\n    client_id: ilagent-edge\n    topic: edge/delivery/test\n    qos: 1\n    retry: { initial: 20ms, max: 100ms }\n", tcp.Address())
	r := startDaemon(t, t.TempDir(), edgeSource(fake, ""), sink, "mq")
	select {
	case m := <-got:
		require.Equal(t, "edge/delivery/test", m.Topic())
		var p struct{ ID string }
		require.NoError(t, json.Unmarshal(m.Payload(), &p))
		require.Equal(t, "99", p.ID)
	case <-time.After(20 * time.Second):
		t.Fatal("no message on edge/delivery/test")
	}
	eventually(t, "a poll with after-id=1", func() bool { return lastPoll(fake).AfterID == 1 })
	r.stop()
	select {
	case m := <-got:
		t.Fatalf("one item, one message; got another on %s", m.Topic())
	default:
	}
}

// TestHAKeepsOrderThroughARefusal: in HA mode nothing is stored (the source
// acknowledges on delivery), so a failed delivery is polled again; the next item of
// the same alert is not sent before it: the leader delivers one item at a time and
// stops the batch at the first failure, then polls again after a backoff.
func TestHAKeepsOrderThroughARefusal(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.SetEdgeLease(time.Hour)
	fake.AddEdge(key,
		ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":"A","eventType":"alert-created"}`)},
		ilerttest.EdgeItem{Payload: json.RawMessage(`{"id":"A","eventType":"alert-resolved"}`)})
	tg := newTarget(t, func(n int, _ hit) int {
		if n < 2 {
			return http.StatusServiceUnavailable // the first two tries of the first item
		}
		return http.StatusOK
	})
	startDaemon(t, t.TempDir(), edgeSource(fake, "    cluster_id: c1\n    instance_id: node-1\n"), webhookSink(tg, ""), "hook")
	eventually(t, "both items delivered", func() bool {
		return lastPoll(fake).LastProcessedID == 2
	})
	var order []string
	for _, h := range tg.got() {
		order = append(order, h.Header.Get("X-ilert-Edge-Item-Id")+" "+h.Header.Get("X-ilert-Event-Type"))
	}
	require.Equal(t, []string{"1 alert-created", "1 alert-created", "1 alert-created", "2 alert-resolved"}, order,
		"the resolve never overtakes its alert, and is sent once")
}

// stopSite stops the site broker (listener "site") with broker.StopMochi: Mochi's
// own Close can deadlock when a client disconnects at that moment.
func stopSite(t testing.TB, srv *mochi.Server) {
	t.Helper()
	if err := broker.StopMochi(srv, []string{"site"}, 30*time.Second); err != nil {
		t.Error(err)
	}
}
