// Package memtable is an adapters.Table in memory, for a source whose daemon gives
// it no persisted table (tests, one-shot commands) and for tests that look into one.
package memtable

import (
	"context"
	"sort"
	"sync"

	"github.com/edgerelay/edgerelay/adapters"
)

// Table is an adapters.Table in memory: nothing survives the process. It is safe for
// concurrent use.
type Table struct {
	mu sync.Mutex // guards m
	m  map[string][]byte
}

// New returns an empty table.
func New() *Table { return &Table{m: map[string][]byte{}} }

// Get returns a copy of key's value, nil when absent.
func (t *Table) Get(key string) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[key]
	if !ok {
		return nil
	}
	return append([]byte(nil), v...)
}

// Set records a copy of value; an empty value deletes key.
func (t *Table) Set(key string, value []byte) error {
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
func (t *Table) Range(f func(key string, value []byte) bool) {
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
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Flush returns at once: there is nothing to make durable.
func (t *Table) Flush(ctx context.Context) error { return ctx.Err() }

var _ adapters.Table = (*Table)(nil)
