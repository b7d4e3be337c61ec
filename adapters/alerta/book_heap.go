package alerta

import "time"

// aged is what an age heap holds: a node that tells its age (receive time, then id
// to break ties) and remembers its position in the heap, for heap.Fix and
// heap.Remove.
type aged interface {
	age() (time.Time, string)
	heapIndex() *int
}

// ageOrder is a container/heap of nodes ordered by age, oldest first, ties by id,
// so that eviction takes the oldest in O(log n). The book keeps one for open
// alerts, one for closed alerts and one for heartbeats.
type ageOrder[N aged] []N

// ageHeap holds the book's alerts.
type ageHeap = ageOrder[*node]

// beatHeap holds the book's heartbeats.
type beatHeap = ageOrder[*beatNode]

func (h ageOrder[N]) Len() int { return len(h) }

func (h ageOrder[N]) Less(i, j int) bool {
	at, aid := h[i].age()
	bt, bid := h[j].age()
	if !at.Equal(bt) {
		return at.Before(bt)
	}
	return aid < bid
}

func (h ageOrder[N]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	*h[i].heapIndex(), *h[j].heapIndex() = i, j
}

func (h *ageOrder[N]) Push(x any) {
	n := x.(N)
	*n.heapIndex() = len(*h)
	*h = append(*h, n)
}

func (h *ageOrder[N]) Pop() any {
	old := *h
	n := old[len(old)-1]
	var zero N
	old[len(old)-1] = zero
	*h = old[:len(old)-1]
	*n.heapIndex() = -1
	return n
}

// age is an alert's place in the age order: its lastReceiveTime, then its id.
func (n *node) age() (time.Time, string) { return n.st.LastReceiveTime, n.st.ID }

func (n *node) heapIndex() *int { return &n.hi }

// age is a heartbeat's place in the age order: its receive time, then its id.
func (n *beatNode) age() (time.Time, string) { return n.hb.ReceiveTime, n.hb.ID }

func (n *beatNode) heapIndex() *int { return &n.hi }
