package edge

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

const testKey = "iec1:test-key"

// memState is an in-memory adapters.State with the daemon's name rule.
type memState struct {
	mu   sync.Mutex
	m    map[string][]byte
	sets int
}

var stateNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func newState() *memState { return &memState{m: map[string][]byte{}} }

func (s *memState) Get(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[name]; ok {
		return append([]byte(nil), v...)
	}
	return nil
}

func (s *memState) Set(name string, v []byte) error {
	if !stateNameRE.MatchString(name) {
		return errors.New("bad state name " + name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets++
	if len(v) == 0 {
		delete(s.m, name)
		return nil
	}
	s.m[name] = append([]byte(nil), v...)
	return nil
}

func (s *memState) Flush(context.Context) error { return nil }

func (s *memState) get(name string) string { return string(s.Get(name)) }

func (s *memState) setCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sets
}

// health records conditions.
type health struct {
	mu    sync.Mutex
	crit  map[string]string // failing critical conditions → detail
	degr  map[string]string
	calls int
}

func newHealth() *health { return &health{crit: map[string]string{}, degr: map[string]string{}} }

func (h *health) Set(c string, ok bool, d string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if ok {
		delete(h.crit, c)
	} else {
		h.crit[c] = d
	}
}

func (h *health) SetDegraded(c string, ok bool, d string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if ok {
		delete(h.degr, c)
	} else {
		h.degr[c] = d
	}
}

func (h *health) critical() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for k, v := range h.crit {
		out[k] = v
	}
	return out
}

func (h *health) degraded() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for k, v := range h.degr {
		out[k] = v
	}
	return out
}

// rig is one source under test against the fake, on a fake clock.
type rig struct {
	t     *testing.T
	fake  *ilerttest.Server
	clk   *clocktest.Fake
	state *memState
	hl    *health
	logs  *adaptertest.Buffer
	src   *Source
	roles chan string
	done  chan error
	stop  context.CancelFunc
}

func testConfig(host string) Config {
	c := DefaultConfig()
	c.APIHost = host
	c.Key = testKey
	return c
}

func newRig(t *testing.T, fake *ilerttest.Server, cfg Config, state *memState) *rig {
	t.Helper()
	if state == nil {
		state = newState()
	}
	r := &rig{t: t, fake: fake, clk: clocktest.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)),
		state: state, hl: newHealth(), logs: &adaptertest.Buffer{}, roles: make(chan string, 64)}
	src, err := NewSource(cfg, adapters.Deps{
		Name: "edge", Log: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Health: r.hl, Clock: r.clk, Version: "1.2.3", State: state,
		Role: func(role, reason string) { r.roles <- role },
	})
	require.NoError(t, err)
	r.src = src
	return r
}

// run starts Run with pub; the test's cleanup stops it.
func (r *rig) run(pub adapters.Publisher) {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.done = make(chan error, 1)
	go func() { r.done <- r.src.Run(ctx, pub) }()
	r.t.Cleanup(func() { r.halt() })
}

func (r *rig) halt() {
	if r.stop == nil {
		return
	}
	r.stop()
	r.stop = nil
	select {
	case err := <-r.done:
		require.NoError(r.t, err)
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return after cancel")
	}
}

// sleeping waits until the source sleeps and returns how long it sleeps for.
func (r *rig) sleeping() time.Duration {
	r.t.Helper()
	when, ok := r.clk.WaitNext(10 * time.Second)
	require.True(r.t, ok, "the source did not start a wait")
	return when.Sub(r.clk.Now())
}

// wake ends the current wait.
func (r *rig) wake() {
	r.t.Helper()
	when, ok := r.clk.WaitNext(10 * time.Second)
	require.True(r.t, ok)
	r.clk.AdvanceTo(when)
}

func polls(f *ilerttest.Server) []ilerttest.EdgePoll { return f.EdgePolls() }

func delivered(rec *adaptertest.Recorder) []string {
	var ids []string
	for _, e := range rec.Accepted() {
		ids = append(ids, e.ID)
	}
	return ids
}

// Scenario 91: two items, the raw key, cursor "2", the next poll after-id=2.
func TestScenario91FirstPoll(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(testKey, 2, nil)
	r := newRig(t, fake, testConfig(fake.URL()), nil)
	rec := adaptertest.NewRecorder()
	r.run(rec)
	require.Equal(t, DefaultInterval, r.sleeping())
	require.Equal(t, []string{"edge-1", "edge-2"}, delivered(rec))
	require.Equal(t, "2", r.state.get(r.src.CursorName()))
	require.True(t, strings.HasPrefix(r.src.CursorName(), "edge_cursor_"))
	require.Len(t, r.src.CursorName(), len("edge_cursor_")+16)

	reqs := fake.Requests()
	require.Len(t, reqs, 1)
	q, _ := url.ParseQuery(reqs[0].Query)
	require.Equal(t, "100", q.Get("limit"))
	require.Equal(t, "0", q.Get("after-id"))
	require.Equal(t, testKey, reqs[0].Header.Get("Authorization"), "the raw key, no Bearer")
	require.Equal(t, "edgerelay/1.2.3", reqs[0].Header.Get("User-Agent"))
	require.Empty(t, r.hl.critical())

	r.wake()
	r.sleeping()
	p := polls(fake)
	require.Len(t, p, 2)
	require.Equal(t, int64(2), p[1].AfterID)
	require.Empty(t, p[1].IDs)
	require.Equal(t, 1, r.state.setCount(), "no cursor write while nothing arrives")
}

// Scenario 92: the cursor follows the polls, 10 → 20.
func TestScenario92CursorAcrossPolls(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(testKey, 10, nil)
	r := newRig(t, fake, testConfig(fake.URL()), nil)
	rec := adaptertest.NewRecorder()
	r.run(rec)
	r.sleeping()
	require.Equal(t, "10", r.state.get(r.src.CursorName()))
	fake.AddEdgeItems(testKey, 10, nil)
	r.wake()
	r.sleeping()
	require.Equal(t, "20", r.state.get(r.src.CursorName()))
	require.Len(t, rec.Accepted(), 20)
	require.Equal(t, 2, r.state.setCount(), "one cursor write per batch")
}

// Scenario 93, changed: the cursor stops before the first item not accepted (a
// refused publish); items stored count as processed (the outbox delivers them).
func TestScenario93RefusalStopsTheBatch(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(testKey, 3, nil)
	r := newRig(t, fake, testConfig(fake.URL()), nil)
	rec := adaptertest.NewRecorder(adaptertest.RejectWhen(func(e *adapters.Event, nth int) error {
		if e.ID == "edge-2" && nth == 1 {
			return errors.New("store full")
		}
		return nil
	}))
	r.run(rec)
	require.Equal(t, DefaultInterval, r.sleeping(), "a refusal waits one poll interval")
	require.Equal(t, "1", r.state.get(r.src.CursorName()))
	r.wake()
	r.sleeping()
	p := polls(fake)
	require.Equal(t, int64(1), p[1].AfterID)
	require.Equal(t, "3", r.state.get(r.src.CursorName()))
	require.Equal(t, []string{"edge-1", "edge-2", "edge-3", "edge-2", "edge-3"}, publishedIDs(rec),
		"item 3 of the first batch was published and is published again after 2")
}

func publishedIDs(rec *adaptertest.Recorder) []string {
	var ids []string
	for _, e := range rec.Published() {
		ids = append(ids, e.ID)
	}
	return ids
}

// Scenarios 96 and 101: a 401 is a critical auth condition with no delivery; the
// next poll, 5 s later, succeeds and clears it.
func TestScenario96And101Auth(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(testKey, 1, nil)
	fake.FailNext(ilerttest.EdgePath, 1, http.StatusUnauthorized)
	r := newRig(t, fake, testConfig(fake.URL()), nil)
	rec := adaptertest.NewRecorder()
	r.run(rec)
	require.Equal(t, 5*time.Second, r.sleeping())
	require.Empty(t, rec.Published())
	require.Contains(t, r.hl.critical()[CondAuth], "authentication failed")
	r.wake()
	require.Equal(t, DefaultInterval, r.sleeping())
	require.Empty(t, r.hl.critical())
	require.Len(t, rec.Accepted(), 1)
	require.NotContains(t, r.logs.String(), testKey)
}

func TestForbiddenIsAuth(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeKey(testKey)
	fake.FailNext(ilerttest.EdgePath, 1, http.StatusForbidden)
	r := newRig(t, fake, testConfig(fake.URL()), nil)
	r.run(adaptertest.NewRecorder())
	r.sleeping()
	require.Contains(t, r.hl.critical()[CondAuth], "authentication failed — check the edge connector key")
}

// Failure backoff: 5 s doubling to 300 s, reset on success; other failures are a
// degraded poll condition.
func TestBackoff(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeKey(testKey)
	fake.FailNext(ilerttest.EdgePath, 8, http.StatusInternalServerError)
	r := newRig(t, fake, testConfig(fake.URL()), nil)
	r.run(adaptertest.NewRecorder())
	var waits []time.Duration
	for range 8 {
		waits = append(waits, r.sleeping())
		r.wake()
	}
	require.Equal(t, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second,
		80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}, waits)
	require.Equal(t, DefaultInterval, r.sleeping(), "success resets")
	require.Empty(t, r.hl.degraded())
	require.Empty(t, r.hl.critical(), "a server error is not critical")

	fake.DropNext(ilerttest.EdgePath, 2) // net/http retries a GET once on a fresh connection
	r.wake()
	require.Equal(t, 5*time.Second, r.sleeping(), "the count starts again")
	require.Contains(t, r.hl.degraded()[CondPoll], "poll")
}

func TestRetryAfterStretchesBackoff(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeKey(testKey)
	fake.FailNextWithHeader(ilerttest.EdgePath, 1, http.StatusTooManyRequests, http.Header{"Retry-After": {"42"}})
	r := newRig(t, fake, testConfig(fake.URL()), nil)
	r.run(adaptertest.NewRecorder())
	require.Equal(t, 42*time.Second, r.sleeping())
}

func TestBadAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"not json": `<html>`,
		"no id":    `{"items":[{"payload":{}}]}`,
		"float id": `{"items":[{"id":1.5,"payload":{}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			fake := ilerttest.NewServer(t)
			fake.AddEdgeKey(testKey)
			fake.RespondNext(ilerttest.EdgePath, 1, 200, http.Header{"Content-Type": {"application/json"}}, []byte(body))
			r := newRig(t, fake, testConfig(fake.URL()), nil)
			rec := adaptertest.NewRecorder()
			r.run(rec)
			require.Equal(t, 5*time.Second, r.sleeping())
			require.Empty(t, rec.Published())
			require.Contains(t, r.hl.degraded()[CondPoll], "poll")
		})
	}
	t.Run("oversize", func(t *testing.T) {
		fake := ilerttest.NewServer(t)
		fake.AddEdgeKey(testKey)
		big := `{"items":[],"x":"` + strings.Repeat("a", MaxAnswerBytes) + `"}`
		fake.RespondNext(ilerttest.EdgePath, 1, 200, nil, []byte(big))
		r := newRig(t, fake, testConfig(fake.URL()), nil)
		r.run(adaptertest.NewRecorder())
		require.Equal(t, 5*time.Second, r.sleeping())
		require.Contains(t, r.hl.degraded()[CondPoll], "larger than")
	})
}

// Scenario 99: a full batch is polled again at once, up to 10 times, then one
// interval: 15 full batches and a 60 s interval deliver exactly 1000 first.
func TestScenario99Repoll(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(testKey, 1500, nil)
	cfg := testConfig(fake.URL())
	cfg.PollInterval = 60 * time.Second
	r := newRig(t, fake, cfg, nil)
	rec := adaptertest.NewRecorder()
	r.run(rec)
	require.Equal(t, 60*time.Second, r.sleeping())
	require.Len(t, rec.Accepted(), 1000)
	require.Equal(t, "1000", r.state.get(r.src.CursorName()))
	require.Equal(t, 10, r.state.setCount(), "one cursor write per batch")
	r.wake()
	require.Equal(t, 60*time.Second, r.sleeping(), "5 full batches, then a short one")
	require.Len(t, rec.Accepted(), 1500)

	// 100 then 1: 101 without a wait in between
	fake.AddEdgeItems(testKey, 101, nil)
	r.wake()
	require.Equal(t, 60*time.Second, r.sleeping())
	require.Len(t, rec.Accepted(), 1601)
	require.Equal(t, "1601", r.state.get(r.src.CursorName()))
}

// Scenario 100: two keys share one state: each has its own cursor.
func TestScenario100TwoKeys(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems("key-A", 20, nil)
	fake.AddEdgeItems("key-B", 5, nil)
	st := newState()
	cfgA := testConfig(fake.URL())
	cfgA.Key = "key-A"
	a := newRig(t, fake, cfgA, st)
	a.run(adaptertest.NewRecorder())
	a.sleeping()
	a.halt()
	cfgB := testConfig(fake.URL())
	cfgB.Key = "key-B"
	b := newRig(t, fake, cfgB, st)
	b.run(adaptertest.NewRecorder())
	b.sleeping()
	require.NotEqual(t, a.src.CursorName(), b.src.CursorName())
	require.Equal(t, "20", st.get(a.src.CursorName()))
	require.Equal(t, "5", st.get(b.src.CursorName()))
	p := fake.EdgePolls()
	require.Equal(t, "key-B", p[len(p)-1].Key)
	require.Equal(t, int64(0), p[len(p)-1].AfterID)
}

// A restart resumes from the saved cursor.
func TestRestartResumes(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(testKey, 3, nil)
	st := newState()
	a := newRig(t, fake, testConfig(fake.URL()), st)
	a.run(adaptertest.NewRecorder())
	a.sleeping()
	a.halt()
	fake.AddEdgeItems(testKey, 2, nil)
	b := newRig(t, fake, testConfig(fake.URL()), st)
	rec := adaptertest.NewRecorder()
	b.run(rec)
	b.sleeping()
	require.Equal(t, []string{"edge-4", "edge-5"}, delivered(rec))
}

// Scenario 97: a standby publishes nothing, reports the standby role and polls every
// standby_interval; readiness stays healthy.
func TestScenario97Standby(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(testKey, 3, nil)
	// node-1 leads
	req, _ := http.NewRequest(http.MethodGet, fake.URL()+ilerttest.EdgePath+"?cluster-id=test-cluster&instance-id=node-1", nil)
	req.Header.Set("Authorization", testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	cfg := testConfig(fake.URL())
	cfg.ClusterID, cfg.InstanceID, cfg.StandbyInterval = "test-cluster", "node-2", 7*time.Second
	r := newRig(t, fake, cfg, nil)
	rec := adaptertest.NewRecorder()
	r.run(rec)
	require.Equal(t, 7*time.Second, r.sleeping())
	require.Equal(t, adapters.RoleStandby, <-r.roles)
	require.Empty(t, rec.Published())
	require.Empty(t, r.hl.critical())
	p := fake.EdgePolls()
	last := p[len(p)-1]
	require.Equal(t, "node-2", last.InstanceID)
	require.Equal(t, int64(-1), last.AfterID, "no after-id in HA mode")
	require.Equal(t, int64(-1), last.LastProcessedID)
	r.wake()
	r.sleeping()
	require.Empty(t, r.roles, "repeating the role reports nothing")
	require.Empty(t, r.state.get(r.src.CursorName()))
}

// Scenario 98: a leader reports last-processed-id and keeps no local cursor.
func TestScenario98Leader(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdge(testKey, ilerttest.EdgeItem{ID: 5})
	cfg := testConfig(fake.URL())
	cfg.ClusterID = "test-cluster"
	st := newState()
	st.m[cursorPrefix+"0000000000000000"] = []byte("1")
	r := newRig(t, fake, cfg, st)
	rec := adaptertest.NewRecorder()
	r.run(rec)
	r.sleeping()
	require.Equal(t, adapters.RoleActive, <-r.roles)
	require.Len(t, rec.Accepted(), 1)
	r.wake()
	r.sleeping()
	p := fake.EdgePolls()
	require.Equal(t, int64(-1), p[0].LastProcessedID, "empty after a start")
	require.Equal(t, int64(5), p[1].LastProcessedID)
	require.Equal(t, "", st.get(r.src.CursorName()), "no local cursor in HA mode")
	require.True(t, strings.HasPrefix(r.src.InstanceID(), "edgerelay-"))
	require.Equal(t, r.src.InstanceID(), st.get(stateInstance), "the generated instance id is kept")
	require.Equal(t, adapters.AckDelivered, cfg.RequiredAck())

	// a restart keeps the instance id and stays leader
	r.halt()
	r2 := newRig(t, fake, cfg, st)
	require.Equal(t, r.src.InstanceID(), r2.src.InstanceID())
}

// In HA mode only a delivered (or dead-lettered) item moves last-processed-id.
func TestHAStoredIsWarned(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeItems(testKey, 2, nil)
	cfg := testConfig(fake.URL())
	cfg.ClusterID = "c"
	r := newRig(t, fake, cfg, nil)
	r.run(adapters.PublisherFunc(func(_ context.Context, _ *adapters.Event, done func(adapters.Settlement)) error {
		done(adapters.Settled(adapters.Stored, ""))
		return nil
	}))
	r.sleeping()
	require.Contains(t, r.logs.String(), "ack: delivered")
}

// The event shape agreed for issue 9.
func TestEventShape(t *testing.T) {
	e := newEvent("edge", 42, []byte(`{ "id": "999", "eventType": "alert-created", "timestamp": "2026-05-04T10:00:00.000Z", "summary": "x" }`), time.Unix(1, 0))
	require.Equal(t, "edge-42", e.ID)
	require.Equal(t, adapters.KindAlert, e.Kind)
	require.Equal(t, "999", e.Key)
	require.Equal(t, "edge", e.Source)
	require.Equal(t, "alert-created", e.Topic)
	require.Equal(t, `{"id":"999","eventType":"alert-created","timestamp":"2026-05-04T10:00:00.000Z","summary":"x"}`, string(e.Payload))
	require.Equal(t, map[string]string{
		AttrEventTypeHeader: "alert-created", AttrAlertIDHeader: "999", AttrItemIDHeader: "42",
		AttrEventTypeEnv: "alert-created", AttrAlertIDEnv: "999", AttrItemIDEnv: "42",
		AttrTimestampEnv: "2026-05-04T10:00:00.000Z",
	}, e.Attrs)

	e = newEvent("edge", 7, []byte(`{"id":12345678901234567890,"eventType":5}`), time.Unix(1, 0))
	require.Equal(t, "12345678901234567890", e.Key, "a numeric alert id as its literal text")
	require.Equal(t, "12345678901234567890", e.Attrs[AttrAlertIDHeader])
	require.Equal(t, DefaultTopic, e.Topic)
	require.Equal(t, "", e.Attrs[AttrEventTypeEnv])
	require.Equal(t, "", e.Attrs[AttrTimestampEnv])
	require.Equal(t, "7", e.Attrs[AttrItemIDEnv])

	e = newEvent("edge", 8, []byte(`[1, 2]`), time.Unix(1, 0))
	require.Equal(t, "", e.Key)
	require.Equal(t, `[1,2]`, string(e.Payload))
	e = newEvent("edge", 9, []byte(`{"id":"a\"b","eventType":"x\u00e9"}`), time.Unix(1, 0))
	require.Equal(t, `a"b`, e.Key)
	require.Equal(t, "xé", e.Topic)
}

// The key never shows in a log line or an error, even when the server echoes it.
func TestKeyNeverLogged(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeKey(testKey)
	// A proxy or API that echoes the request back in an error answer: the excerpt of
	// the body that the error carries would hold the key, raw and quoted.
	fake.RespondNext(ilerttest.EdgePath, 1, 502, nil, []byte(`bad gateway for Authorization: `+testKey+` {"key":"`+testKey+`"}`))
	r := newRig(t, fake, testConfig(fake.URL()), nil)
	r.run(adaptertest.NewRecorder())
	r.sleeping()
	require.NotContains(t, r.logs.String(), testKey)
	require.NotContains(t, r.hl.degraded()[CondPoll], testKey)
	require.Contains(t, r.hl.degraded()[CondPoll], "bad gateway for Authorization: ***", "the excerpt is there, the key is not")
}

func TestConfig(t *testing.T) {
	t.Setenv("ILERT_API_HOST", "http://127.0.0.1:1")
	c := DefaultConfig()
	require.Equal(t, "http://127.0.0.1:1", c.APIHost)
	require.Equal(t, DefaultKeyEnv, c.KeyEnv)
	require.NoError(t, c.Validate())

	bad := DefaultConfig()
	bad.APIHost = "ftp://x"
	bad.Key, bad.KeyFile = "a b", "/f"
	bad.PollInterval = time.Millisecond // below MinInterval, and below what TestMain lowers it to
	bad.StandbyInterval = 121 * time.Second
	bad.Timeout = 0
	bad.ClusterID = "has space"
	bad.InstanceID = strings.Repeat("x", 200)
	err := bad.Validate()
	require.Error(t, err)
	for _, k := range []string{"api_host", "key, key_file", "key:", "poll_interval", "standby_interval", "timeout", "cluster_id", "instance_id"} {
		require.Contains(t, err.Error(), k)
	}

	t.Setenv("EDGE_TEST_KEY", "from-env")
	c.KeyEnv = "EDGE_TEST_KEY"
	k, err := c.resolveKey()
	require.NoError(t, err)
	require.Equal(t, "from-env", k)
	c.KeyEnv = "EDGE_TEST_KEY_UNSET"
	_, err = NewSource(c, adapters.Deps{})
	require.ErrorContains(t, err, "EDGE_TEST_KEY_UNSET")
	c.Key = "literal"
	k, err = c.resolveKey()
	require.NoError(t, err)
	require.Equal(t, "literal", k)
}

// The shared conformance suite, against the fake. Short intervals: the suite waits
// in real time.
func TestConformance(t *testing.T) {
	fake := ilerttest.NewServer(t)
	fake.AddEdgeKey(testKey)
	st := newState()
	adaptertest.RunSource(t, adaptertest.SourceHarness{
		New: func(t *testing.T) adapters.Source {
			cfg := testConfig(fake.URL())
			cfg.PollInterval = 20 * time.Millisecond
			src, err := NewSource(cfg, adapters.Deps{Name: "edge", State: st})
			require.NoError(t, err)
			return src
		},
		Inject: func(t *testing.T, payload []byte) {
			fake.AddEdge(testKey, ilerttest.EdgeItem{Payload: json.RawMessage(payload)})
		},
		Redelivers: true,
	})
}
