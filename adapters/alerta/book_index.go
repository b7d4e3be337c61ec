package alerta

import (
	"container/heap"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// prefixIndex is an ordered set of (key, id) pairs, a treap, so that Resolve finds
// every alert whose lowercase id or lastReceiveId starts with a prefix in
// O(log n + matches) instead of scanning the book. A sorted slice would cost a
// memmove of the whole index per new alert, which at 100k alerts is noticeable on a
// small gateway.
type prefixIndex struct {
	root *treapNode
	seed uint32 // xorshift state for the priorities, seeded at random
}

// randomSeed seeds a book's treap priorities, so that a sender choosing ids cannot
// predict them and build a degenerate tree.
func randomSeed() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:]) | 1
}

type treapNode struct {
	key, id     string
	pri         uint32
	left, right *treapNode
}

func pairLess(k1, i1, k2, i2 string) bool {
	if k1 != k2 {
		return k1 < k2
	}
	return i1 < i2
}

func (p *prefixIndex) nextPri() uint32 {
	if p.seed == 0 {
		p.seed = 2463534242
	}
	p.seed ^= p.seed << 13
	p.seed ^= p.seed >> 17
	p.seed ^= p.seed << 5
	return p.seed
}

// insert adds (key, id); adding a pair already present changes nothing.
func (p *prefixIndex) insert(key, id string) {
	p.root = p.insertAt(p.root, key, id)
}

func (p *prefixIndex) insertAt(n *treapNode, key, id string) *treapNode {
	if n == nil {
		return &treapNode{key: key, id: id, pri: p.nextPri()}
	}
	switch {
	case pairLess(key, id, n.key, n.id):
		n.left = p.insertAt(n.left, key, id)
		if n.left.pri > n.pri {
			l := n.left
			n.left, l.right = l.right, n
			return l
		}
	case pairLess(n.key, n.id, key, id):
		n.right = p.insertAt(n.right, key, id)
		if n.right.pri > n.pri {
			r := n.right
			n.right, r.left = r.left, n
			return r
		}
	}
	return n
}

// remove deletes (key, id) when present.
func (p *prefixIndex) remove(key, id string) {
	p.root = removeAt(p.root, key, id)
}

func removeAt(n *treapNode, key, id string) *treapNode {
	if n == nil {
		return nil
	}
	switch {
	case pairLess(key, id, n.key, n.id):
		n.left = removeAt(n.left, key, id)
	case pairLess(n.key, n.id, key, id):
		n.right = removeAt(n.right, key, id)
	default:
		return mergeTreaps(n.left, n.right)
	}
	return n
}

// mergeTreaps joins two treaps where every pair of l sorts before every pair of r.
func mergeTreaps(l, r *treapNode) *treapNode {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.pri > r.pri:
		l.right = mergeTreaps(l.right, r)
		return l
	default:
		r.left = mergeTreaps(l, r.left)
		return r
	}
}

// ascendPrefix calls f for every pair whose key starts with prefix, in order, until
// f returns false. It visits O(log n + matches) nodes.
func (p *prefixIndex) ascendPrefix(prefix string, f func(key, id string) bool) {
	var stack []*treapNode
	n := p.root
	for {
		// Descend to the first node not before prefix, remembering the path.
		for n != nil {
			if n.key < prefix {
				n = n.right
				continue
			}
			stack = append(stack, n)
			n = n.left
		}
		if len(stack) == 0 {
			return
		}
		n = stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !strings.HasPrefix(n.key, prefix) || !f(n.key, n.id) {
			return
		}
		n = n.right
	}
}

// node is one alert's place in the book's indexes.
type node struct {
	st     *Stored
	size   int      // st.Size(), what st takes of the byte budget
	hi     int      // index in heap
	closed bool     // which heap: closed/expired or the rest
	corr   []string // the correlate events indexed for this alert, once each
	corrAt []int    // corr[i]'s position in its byCorr list
}

// dedupIndexKey is Postgres's unique index (environment, resource, event,
// coalesce(customer, ”)): the duplicate and same-event correlation lookup.
type dedupIndexKey struct {
	environment, resource, event, customer string
}

// corrIndexKey finds alerts of one environment, resource and customer whose
// correlate list holds an event.
type corrIndexKey struct {
	environment, resource, customer, event string
}

func customerKey(c *string) string {
	if c == nil {
		return ""
	}
	return *c
}

// evictable reports whether status s makes an alert the first to go when the book
// is full: it no longer needs anyone's attention.
func evictable(s string) bool { return s == statusClosed || s == statusExpired }

// newer reports whether a was received after b (ties: the larger id), the order in
// which several prefix or correlation matches are decided.
func newer(a, b *Stored) bool {
	if !a.LastReceiveTime.Equal(b.LastReceiveTime) {
		return a.LastReceiveTime.After(b.LastReceiveTime)
	}
	return a.ID > b.ID
}

// index adds st, whose Size is size, to every index of the book.
func (b *Book) index(st *Stored, size int) {
	n := &node{st: st, size: size, closed: evictable(st.Status)}
	b.nodes[st.ID] = n
	b.alertBytes += size
	b.byKey[dedupIndexKey{st.Environment, st.Resource, st.Event, customerKey(st.Customer)}] = n
	for _, ev := range st.Correlate {
		if containsString(n.corr, ev) {
			continue
		}
		k := corrIndexKey{st.Environment, st.Resource, customerKey(st.Customer), ev}
		n.corr = append(n.corr, ev)
		n.corrAt = append(n.corrAt, len(b.byCorr[k]))
		b.byCorr[k] = append(b.byCorr[k], n)
	}
	b.prefix.insert(strings.ToLower(st.ID), st.ID)
	b.prefix.insert(strings.ToLower(st.LastReceiveID), st.ID)
	if n.closed {
		heap.Push(&b.closedAge, n)
	} else {
		heap.Push(&b.openAge, n)
	}
}

// unindex removes the alert with id from every index and returns what it was.
func (b *Book) unindex(id string) *Stored {
	n := b.nodes[id]
	if n == nil {
		return nil
	}
	st := n.st
	delete(b.nodes, id)
	b.alertBytes -= n.size
	k := dedupIndexKey{st.Environment, st.Resource, st.Event, customerKey(st.Customer)}
	if b.byKey[k] == n {
		delete(b.byKey, k)
	}
	for i, ev := range n.corr {
		ck := corrIndexKey{st.Environment, st.Resource, customerKey(st.Customer), ev}
		list := b.byCorr[ck]
		// Swap-remove: the last node takes n's place and learns its new position.
		at, last := n.corrAt[i], len(list)-1
		if at != last {
			moved := list[last]
			list[at] = moved
			for j, mev := range moved.corr {
				if mev == ev {
					moved.corrAt[j] = at
				}
			}
		}
		list[last] = nil
		if last == 0 {
			delete(b.byCorr, ck)
		} else {
			b.byCorr[ck] = list[:last]
		}
	}
	b.prefix.remove(strings.ToLower(st.ID), st.ID)
	b.prefix.remove(strings.ToLower(st.LastReceiveID), st.ID)
	if n.closed {
		heap.Remove(&b.closedAge, n.hi)
	} else {
		heap.Remove(&b.openAge, n.hi)
	}
	return st
}

// oldest returns the alert eviction takes next, other than keep: the oldest by
// lastReceiveTime of those closed, expired, or timed out at now (received longer
// ago than their timeout, which Alerta's housekeeping would expire), else the
// oldest of any status. Only the oldest open alert is checked for a timeout, so
// this stays O(1); a zero now checks none.
func (b *Book) oldest(keep string, now time.Time) *Stored {
	c, o := heapTop(b.closedAge, keep), heapTop(b.openAge, keep)
	if o != nil && timedOut(o, now) && (c == nil || newer(c, o)) {
		return o
	}
	if c != nil {
		return c
	}
	return o
}

// timedOut reports whether st's timeout had elapsed at now.
func timedOut(st *Stored, now time.Time) bool {
	return !now.IsZero() && st.Timeout > 0 && now.Sub(st.LastReceiveTime) > time.Duration(st.Timeout)*time.Second
}

// heapTop is the oldest alert of h other than keep.
func heapTop(h ageHeap, keep string) *Stored {
	if len(h) == 0 {
		return nil
	}
	if h[0].st.ID != keep {
		return h[0].st
	}
	// keep is the root: the next oldest is one of its children.
	var best *Stored
	for _, i := range []int{1, 2} {
		if i < len(h) && (best == nil || newer(best, h[i].st)) {
			best = h[i].st
		}
	}
	return best
}
