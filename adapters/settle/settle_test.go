package settle

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
)

var (
	ok      = adapters.Settled(adapters.Stored, "")
	errNo   = errors.New("refused")
	refusal = adapters.Refuse(errNo)
)

// step is one action of a table case: settle entry i (or push a value when push).
type step struct {
	entry int
	s     adapters.Settlement
}

func TestTable(t *testing.T) {
	cases := []struct {
		name  string
		parts []int // one entry per element, with that many parts
		steps []step
		want  []int // released values (entry indexes), in order
		err   bool  // Release reports a refusal at the head
	}{
		{name: "in order", parts: []int{1, 1, 1}, steps: []step{{0, ok}, {1, ok}, {2, ok}}, want: []int{0, 1, 2}},
		{name: "reverse", parts: []int{1, 1, 1}, steps: []step{{2, ok}, {1, ok}, {0, ok}}, want: []int{0, 1, 2}},
		{name: "gap holds the rest", parts: []int{1, 1, 1}, steps: []step{{0, ok}, {2, ok}}, want: []int{0}},
		{name: "refusal stops the prefix", parts: []int{1, 1, 1}, steps: []step{{0, ok}, {1, refusal}, {2, ok}}, want: []int{0}, err: true},
		{name: "refused head", parts: []int{1, 1}, steps: []step{{1, ok}, {0, refusal}}, err: true},
		{name: "every outcome but refused releases", parts: []int{1, 1, 1, 1},
			steps: []step{{0, adapters.Settled(adapters.Delivered, "")}, {1, adapters.Settled(adapters.DeadLettered, "x")},
				{2, adapters.Settled(adapters.Dropped, "y")}, {3, ok}}, want: []int{0, 1, 2, 3}},
		{name: "several parts", parts: []int{2, 1}, steps: []step{{0, ok}, {1, ok}}, want: nil},
		{name: "several parts all settled", parts: []int{2, 1}, steps: []step{{1, ok}, {0, ok}, {0, ok}}, want: []int{0, 1}},
		{name: "one refused part refuses the entry", parts: []int{2}, steps: []step{{0, ok}, {0, refusal}}, err: true},
		{name: "extra Done ignored", parts: []int{1, 1}, steps: []step{{0, ok}, {0, refusal}, {1, ok}}, want: []int{0, 1}},
		{name: "zero parts settle at once", parts: []int{1, 0, 0}, steps: []step{{0, ok}}, want: []int{0, 1, 2}},
		{name: "zero parts wait behind", parts: []int{1, 0}, steps: nil, want: nil},
		{name: "no outcome counts as refused", parts: []int{1}, steps: []step{{0, adapters.Settlement{}}}, err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var fails []error
			tr := New[int](Options{OnFail: func(err error) { fails = append(fails, err) }})
			ents := make([]*Entry[int], len(c.parts))
			for i, p := range c.parts {
				e, err := tr.Push(context.Background(), i, p)
				require.NoError(t, err)
				ents[i] = e
			}
			var got []int
			var last error
			for _, st := range c.steps {
				ents[st.entry].Done(st.s)
				_, last = tr.Release(func(v int) { got = append(got, v) })
			}
			_, last2 := tr.Release(func(v int) { got = append(got, v) })
			require.Equal(t, c.want, got)
			require.Equal(t, c.err, last2 != nil, "refusal at the head")
			if c.err {
				require.Len(t, fails, 1, "OnFail once")
				require.NotNil(t, last)
				_, err := tr.Push(context.Background(), 99, 1)
				require.Error(t, err, "no push after a refusal")
				select {
				case <-tr.Idle():
				default:
					t.Fatal("a refused head leaves nothing to release: idle")
				}
			} else {
				require.Empty(t, fails)
			}
		})
	}
}

var errBoom = errors.New("boom")

func TestCapacity(t *testing.T) {
	tr := New[int](Options{Capacity: 2})
	ctx := context.Background()
	a, err := tr.Push(ctx, 1, 1)
	require.NoError(t, err)
	_, err = tr.Push(ctx, 2, 1)
	require.NoError(t, err)
	short, cancel := context.WithCancel(ctx)
	cancel()
	_, err = tr.Push(short, 3, 1)
	require.ErrorIs(t, err, context.Canceled, "full: Push waits for a slot")

	pushed := make(chan error, 1)
	go func() { // exits once a slot frees
		_, err := tr.Push(ctx, 3, 1)
		pushed <- err
	}()
	a.Done(ok)
	n, err := tr.Release(func(int) {})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, <-pushed, "a release frees a slot")
}

// TestRefusalWakesAWaitingPush: a Push waiting for a slot returns the refusal as soon
// as an entry is refused (no slot would ever free), without its context ending; so
// does one waiting when the tracker is closed.
func TestRefusalWakesAWaitingPush(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(tr *Tracker[int], e *Entry[int])
		want error
	}{
		{"refused", func(_ *Tracker[int], e *Entry[int]) { e.Done(adapters.Refuse(errBoom)) }, errBoom},
		{"closed", func(tr *Tracker[int], _ *Entry[int]) { tr.Close() }, ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New[int](Options{Capacity: 1})
			e, err := tr.Push(context.Background(), 1, 1)
			require.NoError(t, err)
			pushed := make(chan error, 1)
			go func() { // returns once the tracker halts
				_, err := tr.Push(context.Background(), 2, 1)
				pushed <- err
			}()
			tc.stop(tr, e)
			require.ErrorIs(t, <-pushed, tc.want)
		})
	}
}

func TestIdleAndClose(t *testing.T) {
	tr := New[int](Options{})
	select {
	case <-tr.Idle():
	default:
		t.Fatal("an empty tracker is idle")
	}
	require.True(t, tr.Empty())
	e, err := tr.Push(context.Background(), 1, 1)
	require.NoError(t, err)
	require.False(t, tr.Empty())
	idle := tr.Idle()
	e.Done(ok)
	select {
	case <-idle:
		t.Fatal("settled but not released: not idle yet")
	default:
	}
	select {
	case <-tr.Ready():
	default:
		t.Fatal("Done signals Ready")
	}
	// Idle only after fn returned: a release that is handing values over is busy.
	inFn := make(chan struct{})
	go func() { // exits once the release returns
		tr.Release(func(int) {
			select {
			case <-idle:
				t.Error("idle while fn runs")
			default:
			}
			close(inFn)
		})
	}()
	<-inFn
	<-idle

	_, err = tr.Push(context.Background(), 2, 1)
	require.NoError(t, err)
	_, err = tr.Push(context.Background(), 3, 0)
	require.NoError(t, err)
	require.Equal(t, []int{2, 3}, tr.Close())
	require.Nil(t, tr.Close())
	<-tr.Idle()
	_, err = tr.Push(context.Background(), 4, 1)
	require.ErrorIs(t, err, ErrClosed)
	n, _ := tr.Release(func(int) { t.Fatal("closed: nothing released") })
	require.Zero(t, n)
}

// TestProperty settles random entries in random orders, with random refusals, and
// checks after every step that what was released is exactly the longest prefix of
// entries settled without refusal, in push order, each value once.
func TestProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SETTLE_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (SETTLE_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	for round := range 300 {
		n := 1 + rng.IntN(40)
		refuseAt := -1
		if rng.IntN(3) == 0 {
			refuseAt = rng.IntN(n)
		}
		tr := New[int](Options{Capacity: n})
		parts := make([]int, n)
		ents := make([]*Entry[int], n)
		var calls []int // entry index per Done call still to make
		for i := range n {
			parts[i] = rng.IntN(3)
			e, err := tr.Push(context.Background(), i, parts[i])
			require.NoError(t, err)
			ents[i] = e
			for range parts[i] {
				calls = append(calls, i)
			}
		}
		rng.Shuffle(len(calls), func(a, b int) { calls[a], calls[b] = calls[b], calls[a] })
		left := slices.Clone(parts)
		refused := make([]bool, n)
		var released []int
		for _, i := range calls {
			s := ok
			if i == refuseAt && !refused[i] {
				s = adapters.Refuse(errors.New("refused at random"))
			}
			if !s.OK() {
				refused[i] = true
			}
			left[i]--
			ents[i].Done(s)
			tr.Release(func(v int) { released = append(released, v) })
			// The longest prefix settled without refusal.
			want := 0
			for want < n && left[want] == 0 && !refused[want] {
				want++
			}
			if !slices.Equal(released, seq(want)) {
				t.Fatalf("seed %d round %d: released %v, want the prefix 0..%d", seed, round, released, want-1)
			}
		}
		// Entries without parts release with the prefix even with no Done call.
		tr.Release(func(v int) { released = append(released, v) })
		want := 0
		for want < n && left[want] == 0 && !refused[want] {
			want++
		}
		require.Equal(t, seq(want), released, "seed %d round %d", seed, round)
		if refuseAt >= 0 && parts[refuseAt] > 0 {
			require.LessOrEqual(t, len(released), refuseAt, "seed %d round %d: released at or past a refusal", seed, round)
		}
	}
}

func seq(n int) []int {
	if n == 0 {
		return nil
	}
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestConcurrent settles from many goroutines while two goroutines release: every
// value is released once, in push order.
func TestConcurrent(t *testing.T) {
	const n = 2000
	tr := New[int](Options{Capacity: 64})
	var mu sync.Mutex
	var got []int
	release := func() {
		tr.Release(func(v int) {
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
		})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { // exits when stop closes
			defer wg.Done()
			for {
				select {
				case <-tr.Ready():
					release()
				case <-stop:
					return
				}
			}
		}()
	}
	var settlers sync.WaitGroup
	for i := range n {
		e, err := tr.Push(context.Background(), i, 1)
		require.NoError(t, err)
		settlers.Add(1)
		go func() { // exits after one Done
			defer settlers.Done()
			e.Done(ok)
		}()
	}
	settlers.Wait()
	<-tr.Idle()
	close(stop)
	wg.Wait()
	require.Equal(t, seq(n), got)
}

// TestOnFailMayCallBack: OnFail runs without the tracker's lock, so it may use the
// tracker; it runs once, with the first refusal.
func TestOnFailMayCallBack(t *testing.T) {
	var tr *Tracker[int]
	var got []error
	tr = New[int](Options{OnFail: func(err error) {
		got = append(got, err)
		require.False(t, tr.Empty(), "a refusal was recorded")
	}})
	a, err := tr.Push(context.Background(), 1, 1)
	require.NoError(t, err)
	b, err := tr.Push(context.Background(), 2, 1)
	require.NoError(t, err)
	b.Done(refusal)
	a.Done(adapters.Refuse(errors.New("second")))
	require.Equal(t, []error{errNo}, got)
	n, err := tr.Release(func(int) { t.Fatal("the head was refused") })
	require.Zero(t, n)
	require.EqualError(t, err, "second", "Release names the refusal at the head")
}

// TestReleaseBatch: ReleaseBatch hands each settled prefix over at once, in push
// order, and the tracker is not Empty while it does (a value skipping the queue
// must not be acknowledged before the batch).
func TestReleaseBatch(t *testing.T) {
	tr := New[int](Options{})
	ents := make([]*Entry[int], 6)
	for i := range ents {
		e, err := tr.Push(context.Background(), i, 1)
		require.NoError(t, err)
		ents[i] = e
	}
	var batches [][]int
	release := func() {
		n, err := tr.ReleaseBatch(func(vs []int) {
			require.False(t, tr.Empty(), "Empty while a batch is handed over")
			batches = append(batches, slices.Clone(vs))
		})
		require.NoError(t, err)
		want := 0
		if len(batches) > 0 {
			want = len(batches[len(batches)-1])
		}
		require.Equal(t, want, n)
	}
	for _, i := range []int{3, 2, 1} {
		ents[i].Done(ok)
	}
	release()
	require.Empty(t, batches, "entry 0 holds the prefix")
	ents[0].Done(ok)
	release()
	require.Equal(t, [][]int{{0, 1, 2, 3}}, batches, "one batch for the settled prefix")
	ents[5].Done(ok)
	ents[4].Done(ok)
	release()
	require.Equal(t, [][]int{{0, 1, 2, 3}, {4, 5}}, batches)
	require.True(t, tr.Empty())

	// A refused head stops the batch as it stops Release.
	e, err := tr.Push(context.Background(), 6, 1)
	require.NoError(t, err)
	e.Done(refusal)
	n, err := tr.ReleaseBatch(func([]int) { t.Fatal("a refused entry was released") })
	require.Zero(t, n)
	require.ErrorIs(t, err, errNo)
}
