package alerta

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// checkBytes asserts the book's byte accounting: Bytes is the sum of what every
// alert and heartbeat takes, and each part stays within its share of the budget.
func checkBytes(t *testing.T, b *Book) {
	t.Helper()
	alerts := 0
	for _, st := range b.All() {
		alerts += st.Size()
	}
	beats := 0
	for _, hb := range b.Heartbeats() {
		beats += hb.Size()
	}
	require.Equal(t, alerts, b.alertBytes)
	require.Equal(t, beats, b.beatBytes)
	require.Equal(t, alerts+beats, b.Bytes())
	if b.maxBytes > 0 {
		require.LessOrEqual(t, alerts, b.alertBudget())
		require.LessOrEqual(t, beats, b.beatBudget())
		require.LessOrEqual(t, b.Bytes(), b.maxBytes)
	}
	require.Len(t, b.beatAge, len(b.beats))
}

// textAlert is a test alert whose text is n bytes long.
func textAlert(id, resource string, n int) *Alert {
	a := testAlert(id, resource, "E", "major")
	a.Text = strings.Repeat("t", n)
	return a
}

func TestSizeWithoutBodyPlusBody(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 20000} {
		st := &Stored{ID: "x", Resource: "r", Event: "e", Severity: "major", Attributes: []byte("{}")}
		st.Body = []byte(strings.Repeat("b", n))
		require.Equal(t, st.Size(), st.sizeWithoutBody()+bodySize(st.Body), "body of %d bytes", n)
	}
	require.Zero(t, bodySize(nil))
}

func TestByteBudgetEvictsClosedThenOldest(t *testing.T) {
	b := NewBook(100)
	probe, _ := mustReceive(t, b, textAlert("p", "probe", 1000), t0)
	one := probe.Size()
	b.Delete("p")
	// Room for three such alerts in the alerts' part (7/8 of the budget).
	b.SetMaxBytes((3*one + one/2) * beatShare / (beatShare - 1))
	for i, res := range []string{"r1", "r2", "r3"} {
		mustReceive(t, b, textAlert(res, res, 1000), t0.Add(time.Duration(i)*time.Second))
	}
	checkBytes(t, b)
	require.Equal(t, 3, b.Len())
	// r2 closes: a fourth alert evicts it, though r1 is older.
	cl := textAlert("r2c", "r2", 1000)
	cl.Severity = "normal"
	st, kind, evicted, err := b.Receive(cl, t0.Add(3*time.Second))
	require.Nil(t, err)
	require.Equal(t, KindCorrelated, kind)
	require.Equal(t, "closed", st.Status)
	require.Empty(t, evicted)
	_, _, evicted, err = b.Receive(textAlert("r4", "r4", 1000), t0.Add(4*time.Second))
	require.Nil(t, err)
	require.Equal(t, []string{"r2"}, evicted)
	checkBytes(t, b)
	// None closed: the oldest of any status goes.
	_, _, evicted, err = b.Receive(textAlert("r5", "r5", 1000), t0.Add(5*time.Second))
	require.Nil(t, err)
	require.Equal(t, []string{"r1"}, evicted)
	checkBytes(t, b)
	// One large alert (about three of the others: its text is in its fields and
	// in its body) evicts as many as it needs.
	_, _, evicted, err = b.Receive(textAlert("r6", "r6", 1000+one), t0.Add(6*time.Second))
	require.Nil(t, err)
	require.Equal(t, []string{"r3", "r4", "r5"}, evicted)
	require.Equal(t, 1, b.Len())
	checkBytes(t, b)
}

func TestByteBudgetDuplicateGrowsAndEvictsOthers(t *testing.T) {
	b := NewBook(100)
	b.SetMaxBytes(128 << 10) // alerts: 112 KiB, five of 16.5 KB
	for i := range 5 {
		mustReceive(t, b, textAlert(fmt.Sprint("a", i), fmt.Sprint("web", i), 8000), t0.Add(time.Duration(i)*time.Second))
	}
	checkBytes(t, b)
	// The newest alert's duplicate carries a text big enough to push out others;
	// it must never evict itself.
	require.Equal(t, 5, b.Len())
	dup := textAlert("dup", "web4", 30000)
	st, kind, evicted, err := b.Receive(dup, t0.Add(time.Minute))
	require.Nil(t, err)
	require.Equal(t, KindDuplicate, kind)
	require.Equal(t, "a4", st.ID)
	require.Equal(t, []string{"a0"}, evicted, "the oldest, never itself")
	_, ok := b.Get("a4")
	require.True(t, ok)
	checkBytes(t, b)
}

func TestByteBudgetTooLarge(t *testing.T) {
	b := NewBook(10)
	b.SetMaxBytes(16 << 10)
	mustReceive(t, b, textAlert("s1", "web01", 100), t0)
	before := b.All()
	_, _, evicted, err := b.Receive(textAlert("big", "web02", 16<<10), t0.Add(time.Second))
	require.NotNil(t, err)
	require.Equal(t, 413, err.Code)
	require.Contains(t, err.Message, "more than the 14336 bytes kept for all alerts")
	require.Empty(t, evicted)
	require.Equal(t, before, b.All(), "a refused alert changes nothing")
	// A duplicate that would grow too large is refused too and keeps the stored one.
	_, _, _, err = b.Receive(textAlert("big", "web01", 16<<10), t0.Add(time.Second))
	require.NotNil(t, err)
	require.Equal(t, 413, err.Code)
	require.Equal(t, before, b.All())
	checkBytes(t, b)
}

func TestByteBudgetLoadAndSetMaxBytes(t *testing.T) {
	src := NewBook(100)
	var all []*Stored
	for i := range 10 {
		st, _ := mustReceive(t, src, textAlert(fmt.Sprint("l", i), fmt.Sprint("web", i), 2000), t0.Add(time.Duration(i)*time.Second))
		all = append(all, st)
	}
	one := all[0].Size()

	b := NewBook(100)
	b.SetMaxBytes((4*one + one/2) * beatShare / (beatShare - 1))
	var evicted []string
	for _, st := range all {
		evicted = append(evicted, b.Load(st)...)
	}
	require.Equal(t, []string{"l0", "l1", "l2", "l3", "l4", "l5"}, evicted)
	require.Equal(t, 4, b.Len())
	checkBytes(t, b)

	// An alert larger than the whole budget is not loaded: its id is evicted.
	huge, _ := mustReceive(t, src, textAlert("huge", "webH", 8*one), t0.Add(time.Minute))
	require.Equal(t, []string{"huge"}, b.Load(huge))
	_, ok := b.Get("huge")
	require.False(t, ok)
	checkBytes(t, b)

	// Lowering the budget evicts at once, the oldest first.
	require.Equal(t, []string{"l6", "l7"}, b.SetMaxBytes((2*one+one/2)*beatShare/(beatShare-1)))
	checkBytes(t, b)
	require.Empty(t, b.SetMaxBytes(0), "no bound")
	require.Equal(t, 2, b.Len())
}

func TestByteBudgetAct(t *testing.T) {
	b := NewBook(100)
	// A long status is copied by actions into PreviousStatus and BeforeAck: the
	// alert grows, and others make room for it.
	long := textAlert("a0", "web0", 10)
	long.Status = "assign" + strings.Repeat("x", 3000)
	st, _ := mustReceive(t, b, long, t0)
	b.SetMaxBytes((st.Size() + 2*3000 + 500) * beatShare / (beatShare - 1))
	// Closed fillers: when the book is full they evict each other, not a0.
	for i := 1; i < 30; i++ {
		f := textAlert(fmt.Sprint("a", i), fmt.Sprint("web", i), 10)
		f.Severity = "normal"
		mustReceive(t, b, f, t0.Add(time.Duration(i)*time.Second))
	}
	checkBytes(t, b)
	n := b.Len()
	_, evicted, err := b.Act("a0", &Action{Action: "ack"}, t0.Add(time.Minute))
	require.Nil(t, err)
	require.NotEmpty(t, evicted)
	require.NotContains(t, evicted, "a0")
	require.Equal(t, n-len(evicted), b.Len())
	checkBytes(t, b)
}

func TestByteBudgetHeartbeats(t *testing.T) {
	b := NewBook(10)
	b.SetMaxBytes(8 << 10) // heartbeats: 1 KiB
	hb := func(origin string, n int) *Heartbeat {
		return &Heartbeat{Origin: origin, Tags: []string{strings.Repeat("t", n)}, Attributes: []byte("{}"), Timeout: 60, CreateTime: t0}
	}
	for i := range 5 {
		_, err := b.Beat(hb(fmt.Sprint("gw/", i), 200), t0.Add(time.Duration(i)*time.Second))
		require.Nil(t, err)
		checkBytes(t, b)
	}
	got := b.Heartbeats()
	require.Less(t, len(got), 5)
	require.Equal(t, "gw/4", got[len(got)-1].Origin, "the newest kept")
	// An upsert refreshes a heartbeat's age: gw/… the oldest left now survives.
	oldest := got[0].Origin
	_, err := b.Beat(hb(oldest, 200), t0.Add(time.Minute))
	require.Nil(t, err)
	_, err = b.Beat(hb("gw/new", 200), t0.Add(2*time.Minute))
	require.Nil(t, err)
	origins := map[string]bool{}
	for _, h := range b.Heartbeats() {
		origins[h.Origin] = true
	}
	require.True(t, origins[oldest])
	require.True(t, origins["gw/new"])
	checkBytes(t, b)

	// Larger than the heartbeats' whole part: 413, and BeatFits says so first.
	big := hb("gw/big", 2000)
	require.Equal(t, 413, b.BeatFits(big).Code)
	before := b.Heartbeats()
	_, err = b.Beat(big, t0.Add(3*time.Minute))
	require.NotNil(t, err)
	require.Equal(t, 413, err.Code)
	require.Contains(t, err.Message, "kept for all heartbeats")
	require.Equal(t, before, b.Heartbeats())
	require.Nil(t, b.BeatFits(hb("gw/small", 10)))

	// Deleting frees its bytes.
	b.DeleteHeartbeat(before[0].ID)
	checkBytes(t, b)
	// Heartbeats never evict alerts, nor alerts heartbeats.
	mustReceive(t, b, textAlert("x", "web", 10), t0)
	n := len(b.Heartbeats())
	for i := range 20 {
		_, err := b.Beat(hb(fmt.Sprint("gw/more", i), 100), t0.Add(time.Hour+time.Duration(i)))
		require.Nil(t, err)
	}
	require.Equal(t, 1, b.Len())
	require.GreaterOrEqual(t, len(b.Heartbeats()), n)
	checkBytes(t, b)
}

func TestByteBudgetHeartbeatCountBound(t *testing.T) {
	b := NewBook(10)
	b.maxBeats = 3
	for i := range 6 {
		_, err := b.Beat(&Heartbeat{Origin: fmt.Sprint("gw/", i), Attributes: []byte("{}"), CreateTime: t0}, t0.Add(time.Duration(i)*time.Second))
		require.Nil(t, err)
	}
	var origins []string
	for _, h := range b.Heartbeats() {
		origins = append(origins, h.Origin)
	}
	require.Equal(t, []string{"gw/3", "gw/4", "gw/5"}, origins)
	checkBytes(t, b)
}

// TestByteBudgetRandom drives a budgeted book with random alerts, duplicates,
// actions, deletes and heartbeats, checking the accounting after each.
func TestByteBudgetRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := NewBook(50)
	b.SetMaxBytes(200 << 10)
	actions := []string{"ack", "unack", "close", "open", "shelve", "unshelve", "custom"}
	sevs := []string{"major", "minor", "normal", "critical"}
	for i := range 3000 {
		now := t0.Add(time.Duration(i) * time.Second)
		switch op := r.IntN(10); {
		case op < 6:
			a := textAlert(fmt.Sprint("id", i), fmt.Sprint("res", r.IntN(80)), r.IntN(20000))
			a.Severity = sevs[r.IntN(len(sevs))]
			_, _, _, err := b.Receive(a, now)
			require.Nil(t, err)
		case op < 8:
			if all := b.All(); len(all) > 0 {
				_, _, _ = b.Act(all[r.IntN(len(all))].ID, &Action{Action: actions[r.IntN(len(actions))]}, now)
			}
		case op < 9:
			if all := b.All(); len(all) > 0 {
				b.Delete(all[r.IntN(len(all))].ID)
			}
		default:
			_, err := b.Beat(&Heartbeat{Origin: fmt.Sprint("gw/", r.IntN(300)), Tags: []string{strings.Repeat("t", r.IntN(3000))}, Attributes: []byte("{}"), CreateTime: now}, now)
			require.Nil(t, err)
		}
		checkBytes(t, b)
	}
}

// TestByteBudgetBoundsHeap fills a budgeted book with far more bytes of alerts
// than its budget and measures the live heap it keeps: it stays near the
// budget, where an unbounded book would hold all of them.
func TestByteBudgetBoundsHeap(t *testing.T) {
	const budget = 2 << 20
	heapNow := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heapNow()
	b := NewBook(100000)
	b.SetMaxBytes(budget)
	for i := range 2000 { // about 40 MB of alerts with their bodies
		_, _, _, err := b.Receive(textAlert(fmt.Sprint("id", i), fmt.Sprint("res", i), 10000), t0.Add(time.Duration(i)*time.Millisecond))
		require.Nil(t, err)
	}
	after := heapNow()
	require.LessOrEqual(t, b.Bytes(), budget)
	grown := int64(after) - int64(before)
	require.Less(t, grown, int64(3*budget), "live heap grew by %d bytes for a budget of %d", grown, budget)
	runtime.KeepAlive(b)
}
