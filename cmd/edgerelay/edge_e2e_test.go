package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// The ilert_edge source end to end: the real binary polling the ilert API fake and
// delivering to a local HTTP target, killed with SIGKILL mid-flow.

const edgeKey = "iec1:e2e-edge-key"

// edgeTarget is the site's local HTTP system: it counts every item it accepted by
// X-ilert-Edge-Item-Id (how a receiver deduplicates) and answers after delay.
type edgeTarget struct {
	srv   *httptest.Server
	delay time.Duration
	mu    sync.Mutex // guards seen
	seen  map[string]int
}

func newEdgeTarget(t *testing.T, delay time.Duration) *edgeTarget {
	tg := &edgeTarget{delay: delay, seen: map[string]int{}}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tg.delay > 0 {
			time.Sleep(tg.delay)
		}
		id := r.Header.Get("X-ilert-Edge-Item-Id")
		if id == "" {
			http.Error(w, "no item id", http.StatusBadRequest)
			return
		}
		tg.mu.Lock()
		tg.seen[id]++
		tg.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// counts returns the distinct items accepted and the repeats.
func (tg *edgeTarget) counts() (unique, dups int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return countSeen(tg.seen)
}

// missing returns the ids 1..n the target never accepted.
func (tg *edgeTarget) missing(n int64) []int64 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	var out []int64
	for id := int64(1); id <= n; id++ {
		if tg.seen[strconv.FormatInt(id, 10)] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// edgeConfig writes the configuration of one edge relay; extra is added to the
// source's entry.
func edgeConfig(t *testing.T, fake *ilerttest.Server, tg *edgeTarget, httpAddr, extra string) string {
	dir := t.TempDir()
	return writeConfig(t, dir, fmt.Sprintf(`
store: { path: %s/queue.db }
http: { listen: %s }
broker: { enabled: "false" }
sources:
  - name: ilert-edge
    type: ilert_edge
    api_host: %s
    poll_interval: 5s
    standby_interval: 5s
%s
sinks:
  - name: site
    type: webhook
    url: %s
    max_in_flight: 4
    retry: { initial: 20ms, max: 200ms }
routes:
  - { from: [ilert-edge], to: [site] }
`, dir, httpAddr, fake.URL(), extra, tg.srv.URL))
}

// servedTwice counts the items the fake answered more than once (to any instance):
// the replayed items.
func servedTwice(fake *ilerttest.Server) int {
	n := map[int64]int{}
	for _, p := range fake.EdgePolls() {
		for _, id := range p.IDs {
			n[id]++
		}
	}
	twice := 0
	for _, c := range n {
		if c > 1 {
			twice++
		}
	}
	return twice
}

// TestZeroLossEdgeKill: the relay polls a backlog and delivers to a slow target; it is
// killed with SIGKILL mid-delivery and restarted: every item reaches the target, at
// most one batch (100 items) is delivered again (plus the webhook's max_in_flight
// sends under way), and at most two are polled again: the stored batch whose cursor
// was being made durable, and the one being fetched, which was never stored.
func TestZeroLossEdgeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: kill -9 end-to-end test (slow); runs without -short")
	}
	const n = 3000
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(edgeKey, n, nil)
	tg := newEdgeTarget(t, 3*time.Millisecond)
	httpAddr := freePort(t)
	cfg := edgeConfig(t, fake, tg, httpAddr, "")
	env := []string{"ILERT_EDGE_CONNECTOR_KEY=" + edgeKey}

	d := startDaemon(t, env, "run", "-c", cfg)
	waitReady(t, d, "http://"+httpAddr+"/ready")
	waitUntil(t, "deliveries under way", 60*time.Second, func() bool {
		u, _ := tg.counts()
		return u >= 400
	})
	d.kill()
	atKill, _ := tg.counts()
	polledAtKill := len(fake.EdgePolls())
	require.Less(t, atKill, n, "the kill must land mid-flow")
	t.Logf("killed the relay with %d of %d items delivered after %d polls", atKill, n, polledAtKill)
	require.NotContains(t, d.stderr.String(), edgeKey, "the key is never logged")

	d2 := startDaemon(t, env, "run", "-c", cfg)
	waitReady(t, d2, "http://"+httpAddr+"/ready")
	waitUntil(t, "every item at the target", 180*time.Second, func() bool {
		u, _ := tg.counts()
		return u == n
	})
	u, dups := tg.counts()
	replayed := servedTwice(fake)
	t.Logf("delivered %d unique items, %d duplicate deliveries, %d items polled twice, 0 lost", u, dups, replayed)
	require.Empty(t, tg.missing(n))
	require.LessOrEqual(t, dups, 100+4, "a crash delivers at most one batch again (plus the sends in flight)")
	require.LessOrEqual(t, replayed, 200, "a crash polls again at most the batch stored and the batch being fetched")
	require.NotContains(t, d2.stderr.String(), edgeKey)
}

// TestHAEdgeTwoRelays: two relays in one edge cluster poll the fake; the first leads,
// the second stands by and delivers nothing; the leader is killed with SIGKILL, the
// fake promotes the standby once the leader's 12 s lease ran out, and every item reaches
// the target (duplicates counted: at most what the old leader delivered and had not
// yet reported).
func TestHAEdgeTwoRelays(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: end-to-end HA test (slow); runs without -short")
	}
	const n = 1500
	fake := ilerttest.NewServer(t)
	fake.SetEdgeLease(12 * time.Second) // above poll_interval (5s) plus a batch's delivery: only a dead leader loses it
	fake.AddEdgeItems(edgeKey, n, nil)
	tg := newEdgeTarget(t, 10*time.Millisecond)
	env := []string{"ILERT_EDGE_CONNECTOR_KEY=" + edgeKey}
	addr1, addr2 := freePort(t), freePort(t)
	cfg1 := edgeConfig(t, fake, tg, addr1, "    cluster_id: plant-7\n    instance_id: relay-1")
	cfg2 := edgeConfig(t, fake, tg, addr2, "    cluster_id: plant-7") // instance id generated

	r1 := startDaemon(t, env, "run", "-c", cfg1)
	waitReady(t, r1, "http://"+addr1+"/ready")
	waitUntil(t, "relay-1 leads", 30*time.Second, func() bool { return fake.EdgeCluster(edgeKey, "plant-7").Leader == "relay-1" })
	r2 := startDaemon(t, env, "run", "-c", cfg2)
	waitReady(t, r2, "http://"+addr2+"/ready")
	var standbyID string
	waitUntil(t, "relay-2 polls as a standby", 30*time.Second, func() bool {
		for _, p := range fake.EdgePolls() {
			if p.InstanceID != "relay-1" && p.Role == ilerttest.RoleStandby {
				standbyID = p.InstanceID
				return true
			}
		}
		return false
	})
	require.True(t, strings.HasPrefix(standbyID, "edgerelay-"), standbyID)
	waitUntil(t, "relay-2 reports its standby role", 20*time.Second, func() bool {
		return strings.Contains(r2.stderr.String(), "role=standby")
	})
	require.Equal(t, 1.0, scrape(t, addr2, `edgerelay_source_role{source="ilert-edge",role="standby"}`))
	require.Equal(t, 1.0, scrape(t, addr1, `edgerelay_source_role{source="ilert-edge",role="active"}`))
	waitUntil(t, "deliveries under way", 60*time.Second, func() bool {
		u, _ := tg.counts()
		return u >= 300
	})
	require.LessOrEqual(t, scrape(t, addr2, `edgerelay_events_in_total{source="ilert-edge"}`), 0.0,
		"a standby publishes nothing (no series, or 0)")
	r1.kill()
	atKill, _ := tg.counts()
	require.Less(t, atKill, n, "the kill must land mid-flow")
	t.Logf("killed the leader with %d of %d items delivered", atKill, n)

	waitUntil(t, "relay-2 promoted", 60*time.Second, func() bool {
		return fake.EdgeCluster(edgeKey, "plant-7").Leader == standbyID
	})
	waitUntil(t, "relay-2 reports its active role", 20*time.Second, func() bool {
		return strings.Contains(r2.stderr.String(), "role=active")
	})
	require.Equal(t, 1.0, scrape(t, addr2, `edgerelay_source_role{source="ilert-edge",role="active"}`))
	require.Equal(t, 0.0, scrape(t, addr2, `edgerelay_source_role{source="ilert-edge",role="standby"}`))
	waitUntil(t, "every item at the target", 180*time.Second, func() bool {
		u, _ := tg.counts()
		return u == n
	})
	u, dups := tg.counts()
	c := fake.EdgeCluster(edgeKey, "plant-7")
	t.Logf("delivered %d unique items, %d duplicates, 0 lost; promotions %v", u, dups, c.Promotions)
	require.Empty(t, tg.missing(n))
	require.Equal(t, []string{"relay-1", standbyID}, c.Promotions)
	require.LessOrEqual(t, dups, 100, "duplicates: at most the batch the old leader had not reported")
}
