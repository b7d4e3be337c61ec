package health

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon/events"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a manual clock for tests.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type setCall struct {
	component, name string
	ok              bool
	sev             Severity
	detail          string
}

func TestReady(t *testing.T) {
	tests := []struct {
		name        string
		calls       []setCall
		stopping    bool
		wantReady   bool
		wantFailing []string // component/name of failing critical conditions, in order
	}{
		{name: "empty tracker is ready", wantReady: true},
		{
			name:      "all ok",
			calls:     []setCall{{"store", "open", true, Critical, ""}, {"mqtt:plant", "connected", true, Critical, ""}},
			wantReady: true,
		},
		{
			name:      "failing degraded keeps ready",
			calls:     []setCall{{"sink:hook", "delivering", false, Degraded, "503"}},
			wantReady: true,
		},
		{
			name:        "failing critical makes not ready",
			calls:       []setCall{{"mqtt:plant", "connected", false, Critical, "dial: refused"}},
			wantFailing: []string{"mqtt:plant/connected"},
		},
		{
			name: "recovery clears",
			calls: []setCall{
				{"mqtt:plant", "connected", false, Critical, "dial: refused"},
				{"mqtt:plant", "connected", true, Critical, ""},
			},
			wantReady: true,
		},
		{
			name:      "failing with severity OK is raised to degraded, not critical",
			calls:     []setCall{{"store", "space", false, OK, "90% full"}},
			wantReady: true,
		},
		{
			name: "out of range severity is clamped to critical",
			calls: []setCall{
				{"store", "open", false, Severity(7), "corrupt"},
			},
			wantFailing: []string{"store/open"},
		},
		{
			name: "failing conditions are sorted by component then name",
			calls: []setCall{
				{"store", "open", false, Critical, "x"},
				{"mqtt:plant", "subscribed", false, Critical, "y"},
				{"mqtt:plant", "connected", false, Critical, "z"},
				{"sink:hook", "delivering", false, Degraded, "w"},
			},
			wantFailing: []string{"mqtt:plant/connected", "mqtt:plant/subscribed", "store/open"},
		},
		{
			name:        "stopping is never ready",
			calls:       []setCall{{"store", "open", true, Critical, ""}},
			stopping:    true,
			wantFailing: []string{"daemon/running"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(nil)
			for _, c := range tc.calls {
				tr.Set(c.component, c.name, c.ok, c.sev, c.detail)
			}
			if tc.stopping {
				tr.SetStopping()
			}
			ready, failing := tr.Ready()
			require.Equal(t, tc.wantReady, ready)
			var got []string
			for _, c := range failing {
				require.False(t, c.OK)
				require.Equal(t, Critical, c.Severity)
				got = append(got, c.Component+"/"+c.Name)
			}
			require.Equal(t, tc.wantFailing, got)
		})
	}
}

func TestSetSeverityAndSince(t *testing.T) {
	clk := newClock()
	tr := New(clk.Now)
	t0 := clk.Now()

	tr.Set("mqtt:plant", "connected", false, Critical, "dial: refused")
	c := only(t, tr)
	require.Equal(t, Condition{Component: "mqtt:plant", Name: "connected", Severity: Critical, Detail: "dial: refused", Since: t0}, c)

	// A new detail alone keeps Since.
	clk.Advance(time.Minute)
	tr.Set("mqtt:plant", "connected", false, Critical, "dial: timeout")
	c = only(t, tr)
	require.Equal(t, "dial: timeout", c.Detail)
	require.Equal(t, t0, c.Since)

	// A change of severity moves Since.
	clk.Advance(time.Minute)
	tr.Set("mqtt:plant", "connected", false, Degraded, "dial: timeout")
	c = only(t, tr)
	require.Equal(t, Degraded, c.Severity)
	require.Equal(t, t0.Add(2*time.Minute), c.Since)

	// Recovery moves Since and the severity becomes OK whatever was passed.
	clk.Advance(time.Minute)
	tr.Set("mqtt:plant", "connected", true, Critical, "")
	c = only(t, tr)
	require.True(t, c.OK)
	require.Equal(t, OK, c.Severity)
	require.Equal(t, t0.Add(3*time.Minute), c.Since)
}

func only(t *testing.T, tr *Tracker) Condition {
	t.Helper()
	s := tr.Snapshot()
	require.Len(t, s, 1)
	return s[0]
}

func TestSnapshotSortedAndIsolated(t *testing.T) {
	tr := New(nil)
	tr.Set("store", "open", true, Critical, "")
	tr.Set("daemon", "running", true, Critical, "")
	tr.Set("mqtt:plant", "subscribed", false, Critical, "")
	tr.Set("mqtt:plant", "connected", true, Critical, "")
	tr.SetFields("mqtt:plant", map[string]any{"connected": true, "subscriptions_ready": false})

	s := tr.Snapshot()
	var names []string
	for _, c := range s {
		names = append(names, c.Component+"/"+c.Name)
	}
	require.Equal(t, []string{"daemon/running", "mqtt:plant/connected", "mqtt:plant/subscribed", "store/open"}, names)
	require.Equal(t, map[string]any{"connected": true, "subscriptions_ready": false}, s[1].Fields)
	require.Nil(t, s[0].Fields)

	// Mutating the snapshot does not reach the tracker.
	s[1].Fields["connected"] = false
	s[1].Detail = "changed"
	s2 := tr.Snapshot()
	require.Equal(t, true, s2[1].Fields["connected"])
	require.Empty(t, s2[1].Detail)
}

func TestSetFields(t *testing.T) {
	tr := New(nil)
	tr.Set("mqtt:plant", "connected", false, Critical, "refused")
	in := map[string]any{"connected": false}
	tr.SetFields("mqtt:plant", in)
	in["connected"] = true // the tracker kept a copy
	_, failing := tr.Ready()
	require.Equal(t, map[string]any{"connected": false}, failing[0].Fields)

	tr.SetFields("mqtt:plant", nil)
	_, failing = tr.Ready()
	require.Nil(t, failing[0].Fields)
}

func TestRemove(t *testing.T) {
	tr := New(nil)
	tr.Set("sink:old", "connected", false, Critical, "gone")
	tr.SetFields("sink:old", map[string]any{"x": 1})
	tr.Set("store", "open", true, Critical, "")
	tr.Remove("sink:old")
	ready, _ := tr.Ready()
	require.True(t, ready)
	require.Len(t, tr.Snapshot(), 1)
}

func TestForAdapterView(t *testing.T) {
	tr := New(nil)
	var h adapters.Health = tr.For("mqtt:plant")
	h.Set("connected", false, "dial tcp: refused")
	ready, failing := tr.Ready()
	require.False(t, ready)
	require.Equal(t, "mqtt:plant", failing[0].Component)
	require.Equal(t, "connected", failing[0].Name)
	require.Equal(t, Critical, failing[0].Severity)
	require.Equal(t, "dial tcp: refused", failing[0].Detail)

	h.Set("connected", true, "")
	ready, _ = tr.Ready()
	require.True(t, ready)

	h.SetDegraded("breaker", false, "open after 5 failures")
	ready, _ = tr.Ready()
	require.True(t, ready, "a degraded condition keeps the daemon ready")
	require.Equal(t, events.NodeDegraded, tr.Node())
	snap := tr.Snapshot()
	require.Equal(t, Degraded, snap[0].Severity)
	h.SetDegraded("breaker", true, "")
	require.Equal(t, events.NodeOK, tr.Node())
}

// TestTransitionsPublished: every change of a condition's state becomes one
// ReadinessChanged event, in order, with the node's state before and after; a change
// of detail alone does not.
func TestTransitionsPublished(t *testing.T) {
	type step struct {
		do   func(tr *Tracker)
		want []events.Event // Kind, Seq and Time are not compared
	}
	rc := func(comp, cond, from, to, reason, nodeFrom, nodeTo string) events.Event {
		return events.Event{Component: comp, Condition: cond, From: from, To: to, Reason: reason, NodeFrom: nodeFrom, NodeTo: nodeTo}
	}
	const ok, deg, crit = events.StateOK, events.StateDegraded, events.StateCritical
	const nOK, nDeg, nNot = events.NodeOK, events.NodeDegraded, events.NodeNotReady
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "a new condition starts from the empty state",
			steps: []step{
				{func(tr *Tracker) { tr.Set("store", "open", true, Critical, "") }, []events.Event{rc("store", "open", "", ok, "", nOK, nOK)}},
				{func(tr *Tracker) { tr.For("source:plant").Set("connected", false, "starting") },
					[]events.Event{rc("source:plant", "connected", "", crit, "starting", nOK, nNot)}},
			},
		},
		{
			name: "a quick flap is two events; a detail change is none",
			steps: []step{
				{func(tr *Tracker) { tr.Set("sink:hook", "delivering", true, Degraded, "") }, []events.Event{rc("sink:hook", "delivering", "", ok, "", nOK, nOK)}},
				{func(tr *Tracker) {
					tr.Set("sink:hook", "delivering", false, Degraded, "HTTP 503")
					tr.Set("sink:hook", "delivering", false, Degraded, "HTTP 502")
					tr.Set("sink:hook", "delivering", true, Degraded, "")
				}, []events.Event{
					rc("sink:hook", "delivering", ok, deg, "HTTP 503", nOK, nDeg),
					rc("sink:hook", "delivering", deg, ok, "", nDeg, nOK),
				}},
			},
		},
		{
			name: "degraded to critical and the node state follows the worst condition",
			steps: []step{
				{func(tr *Tracker) {
					tr.Set("store", "quarantined", false, Degraded, "moved")
					tr.Set("store", "writable", false, Critical, "disk full")
					tr.Set("store", "writable", true, Critical, "")
				}, []events.Event{
					rc("store", "quarantined", "", deg, "moved", nOK, nDeg),
					rc("store", "writable", "", crit, "disk full", nDeg, nNot),
					rc("store", "writable", crit, ok, "", nNot, nDeg),
				}},
			},
		},
		{
			name: "stopping and removing are transitions too",
			steps: []step{
				{func(tr *Tracker) { tr.Set("sink:old", "connected", false, Degraded, "gone") }, []events.Event{rc("sink:old", "connected", "", deg, "gone", nOK, nDeg)}},
				{func(tr *Tracker) { tr.Remove("sink:old") }, []events.Event{rc("sink:old", "connected", deg, "", "removed", nDeg, nOK)}},
				{func(tr *Tracker) { tr.SetStopping(); tr.SetStopping() }, []events.Event{rc(DaemonComponent, "running", "", crit, StoppingDetail, nOK, nNot)}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bus := events.New(nil)
			sub := bus.Subscribe("test", 64)
			defer sub.Close()
			tr := New(nil)
			tr.SetBus(bus)
			for i, st := range tc.steps {
				st.do(tr)
				var got []events.Event
				for len(sub.C()) > 0 {
					e := <-sub.C()
					require.Equal(t, events.ReadinessChanged, e.Kind)
					e.Kind, e.Seq, e.Time = 0, 0, time.Time{}
					got = append(got, e)
				}
				require.Equal(t, st.want, got, "step %d", i)
			}
		})
	}
}

func TestStopping(t *testing.T) {
	tr := New(nil)
	require.False(t, tr.Stopping())
	tr.SetStopping()
	tr.SetStopping() // idempotent
	require.True(t, tr.Stopping())
	_, failing := tr.Ready()
	require.Len(t, failing, 1)
	require.Equal(t, Condition{Component: DaemonComponent, Name: "running", Severity: Critical, Detail: StoppingDetail, Since: failing[0].Since}, failing[0])
}

func TestSubscribe(t *testing.T) {
	tr := New(nil)
	ch, cancel := tr.Subscribe()
	ch2, cancel2 := tr.Subscribe()
	defer cancel2()

	// A burst of changes is coalesced into one pending notification.
	tr.Set("store", "open", false, Critical, "a")
	tr.Set("store", "open", false, Critical, "b")
	tr.SetFields("store", map[string]any{"path": "/x"})
	requireNotified(t, ch)
	requireNotNotified(t, ch)
	requireNotified(t, ch2)

	// Setting the same state again is not a change.
	tr.Set("store", "open", false, Critical, "b")
	tr.SetFields("store", map[string]any{"path": "/x"})
	tr.Remove("nothing")
	requireNotNotified(t, ch)

	tr.SetStopping()
	requireNotified(t, ch)

	cancel()
	cancel() // idempotent
	_, open := <-ch
	require.False(t, open, "cancel closes the channel")
	tr.Set("store", "open", true, Critical, "") // no panic on a cancelled subscriber
	requireNotified(t, ch2)
}

func requireNotified(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case _, ok := <-ch:
		require.True(t, ok)
	default:
		t.Fatal("no notification pending")
	}
}

func requireNotNotified(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
		t.Fatal("unexpected notification")
	default:
	}
}

func TestSeverityJSON(t *testing.T) {
	tests := []struct {
		sev  Severity
		want string
	}{{OK, `"ok"`}, {Degraded, `"degraded"`}, {Critical, `"critical"`}, {Severity(9), `"unknown"`}}
	for _, tc := range tests {
		b, err := json.Marshal(tc.sev)
		require.NoError(t, err)
		require.Equal(t, tc.want, string(b))
	}
}

// TestConcurrent is for the race detector: writers, readers and subscribers at once.
func TestConcurrent(t *testing.T) {
	tr := New(nil)
	ch, cancel := tr.Subscribe()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() { // exits after its fixed number of iterations
			defer wg.Done()
			h := tr.For(fmt.Sprintf("src:%d", w))
			for i := range 200 {
				h.Set("connected", i%2 == 0, fmt.Sprint(i))
				tr.SetFields(fmt.Sprintf("src:%d", w), map[string]any{"n": i})
				_ = tr.Snapshot()
				_, _ = tr.Ready()
			}
		}()
	}
	drained := make(chan struct{})
	go func() { // exits when cancel closes ch
		defer close(drained)
		for range ch {
		}
	}()
	wg.Wait()
	cancel()
	<-drained
	require.Len(t, tr.Snapshot(), 4)
}
