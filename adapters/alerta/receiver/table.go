package receiver

import (
	"context"
	"sync"
)

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
