package receiver

import (
	"context"
	"sort"
	"sync"
)

// table is the persisted record table the receiver keeps its alerts in: the
// daemon's adapters.Table, or memTable when the daemon gives none (tests, one-shot
// commands).
type table interface {
	Get(key string) []byte
	Set(key string, value []byte) error
	Range(f func(key string, value []byte) bool)
	Len() int
	Flush(ctx context.Context) error
}

// memTable is a table in memory: nothing survives the process. It is safe for
// concurrent use.
type memTable struct {
	mu sync.Mutex // guards m
	m  map[string][]byte
}

func newMemTable() *memTable { return &memTable{m: map[string][]byte{}} }

// Get returns a copy of key's value, nil when absent.
func (t *memTable) Get(key string) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[key]
	if !ok {
		return nil
	}
	return append([]byte(nil), v...)
}

// Set records a copy of value; an empty value deletes key.
func (t *memTable) Set(key string, value []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(value) == 0 {
		delete(t.m, key)
		return nil
	}
	t.m[key] = append([]byte(nil), value...)
	return nil
}

// Range calls f for every record in key order until f returns false.
func (t *memTable) Range(f func(key string, value []byte) bool) {
	t.mu.Lock()
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	t.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		if v := t.Get(k); v != nil && !f(k, v) {
			return
		}
	}
}

// Len returns the number of records.
func (t *memTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Flush returns at once: there is nothing to make durable.
func (t *memTable) Flush(ctx context.Context) error { return ctx.Err() }

// keyLocks serializes the requests of one alert: a request holds its alert's lock
// from the change of the book to the settlement of its event, so the events of one
// alert are published, and settled, in the order the book took them.
type keyLocks struct {
	mu sync.Mutex // guards m
	m  map[string]*keyLock
}

// keyLock is one key's lock: a channel holding a token while it is free.
type keyLock struct {
	ch   chan struct{}
	refs int // requests holding or waiting for it
}

// lock takes key's lock, waiting at most until ctx ends. It returns the function
// that releases it.
func (k *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		l.ch <- struct{}{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	drop := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case <-l.ch:
		return func() { l.ch <- struct{}{}; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}
