package mqtt

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeMsg records its acknowledgement in a shared log.
type fakeMsg struct {
	id  int
	log *ackLog
}

func (m fakeMsg) Ack() { m.log.add(m.id) }

type ackLog struct {
	mu  sync.Mutex
	ids []int // guarded by mu
}

func (l *ackLog) add(id int) { l.mu.Lock(); l.ids = append(l.ids, id); l.mu.Unlock() }
func (l *ackLog) get() []int { l.mu.Lock(); defer l.mu.Unlock(); return append([]int{}, l.ids...) }

func TestAckQueueOrder(t *testing.T) {
	fail := errors.New("refused")
	type step struct {
		id  int
		err error
	}
	cases := []struct {
		name      string
		n         int
		steps     []step // done calls in this order
		wantAcks  []int
		wantFail  bool
		wantAcked int64
	}{
		{"in order", 3, []step{{0, nil}, {1, nil}, {2, nil}}, []int{0, 1, 2}, false, 3},
		{"reverse", 3, []step{{2, nil}, {1, nil}, {0, nil}}, []int{0, 1, 2}, false, 3},
		{"gap holds later", 3, []step{{1, nil}, {2, nil}}, []int{}, false, 0},
		{"prefix only", 4, []step{{0, nil}, {2, nil}, {3, nil}}, []int{0}, false, 1},
		{"failure poisons the rest", 4, []step{{0, nil}, {1, fail}, {2, nil}, {3, nil}}, []int{0}, true, 1},
		{"failure at head", 2, []step{{1, nil}, {0, fail}}, []int{}, true, 0},
		{"second done ignored", 2, []step{{0, nil}, {0, fail}, {1, nil}}, []int{0, 1}, false, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &ackLog{}
			var failures int
			q := newAckQueue(10, func(error) { failures++ })
			ents := make([]*ackEntry, tc.n)
			for i := range ents {
				e, err := q.push(context.Background(), fakeMsg{i, log})
				require.NoError(t, err)
				ents[i] = e
			}
			for _, s := range tc.steps {
				ents[s.id].done(s.err)
				q.release()
			}
			require.Equal(t, tc.wantAcks, log.get())
			require.Equal(t, tc.wantFail, failures == 1)
			require.LessOrEqual(t, failures, 1)
			require.Equal(t, tc.wantAcked, q.acked.Load())
		})
	}
}

func TestAckQueueLimitAndIdle(t *testing.T) {
	log := &ackLog{}
	q := newAckQueue(3, nil)
	var ents []*ackEntry
	for i := range 3 {
		e, err := q.push(context.Background(), fakeMsg{i, log})
		require.NoError(t, err)
		ents = append(ents, e)
	}

	// The limit is reached: push waits for a slot and gives up with its context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := q.push(ctx, fakeMsg{9, log})
	require.ErrorIs(t, err, context.Canceled)

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); q.run(stop) }() // exits when stop closes
	defer func() { close(stop); <-done }()

	ents[2].done(errors.New("refused"))
	require.False(t, q.waitIdle(notYetQ), "messages 0 and 1 may still be released")
	ents[0].done(nil)
	ents[1].done(nil)
	require.True(t, q.waitIdle(5*time.Second), "the head failed: nothing more will be released")
	require.Equal(t, []int{0, 1}, log.get())
	require.Equal(t, int64(2), q.acked.Load())

	// Two slots are free again.
	_, err = q.push(context.Background(), fakeMsg{3, log})
	require.NoError(t, err)
}

// notYetQ bounds a negative check; nothing asserts speed.
const notYetQ = 50 * time.Millisecond
