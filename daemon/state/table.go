package state

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/store"
)

// tablePrefix is the namespace of the sources' tables among the store's cursors.
const tablePrefix = "table/"

// TableKey returns the store cursor name of a record of a source's table.
func TableKey(source, table, key string) string {
	return tablePrefix + source + "/" + table + "/" + key
}

// SplitTableKey is the inverse of TableKey; ok is false for a cursor outside the
// tables' namespace. Neither a source nor a table name holds a '/', so the first two
// separate them; the key, which may hold '/', is the rest.
func SplitTableKey(name string) (source, table, key string, ok bool) {
	rest, ok := strings.CutPrefix(name, tablePrefix)
	if !ok {
		return "", "", "", false
	}
	source, rest, ok1 := strings.Cut(rest, "/")
	table, key, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || source == "" || table == "" || key == "" {
		return "", "", "", false
	}
	return source, table, key, true
}

// Table opens the table called name of the source instance named source (its
// Deps.Table): the first call reads the table's records from the store; later calls
// return the same Table, with the limits l of the latest call. Zero limits mean the
// maxima. It fails for a bad name or limits, for a source name so long that a key
// could not be stored, once the daemon is shutting down, and when the store cannot
// be read.
func (c *Committer) Table(source, name string, l adapters.TableLimits) (adapters.Table, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("table name %q: %w", name, err)
	}
	l, err := tableLimits(l)
	if err != nil {
		return nil, fmt.Errorf("table %q: %w", name, err)
	}
	id := tableID{source, name}
	prefix := TableKey(source, name, "")
	if n := len(prefix) + adapters.MaxTableKey; n > store.MaxCursorName {
		return nil, fmt.Errorf("table %q: the source name is %d bytes long, too long for table records (their stored names would reach %d bytes, the store's limit is %d)",
			name, len(source), n, store.MaxCursorName)
	}
	if t, err := c.openedTable(id, l); err != nil {
		return nil, err
	} else if t != nil {
		return t, nil
	}

	// Read outside the lock: a big table takes a while, and every source's Sets
	// wait on the lock. Nothing writes the table's records before it is opened.
	t := &table{space: newSpace(prefix), c: c, id: id, limits: l}
	if c.db != nil {
		ignored := 0
		err := c.db.Cursors(prefix, func(full string, v []byte) error {
			key := full[len(prefix):]
			if len(v) == 0 || len(v) > adapters.MaxTableValue || adapters.CheckTableKey(key) != nil {
				ignored++
				return nil
			}
			t.entries[key] = &entry{sp: &t.space, key: key, cur: v, disk: v}
			t.live++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load table %q: %w", name, err)
		}
		if ignored > 0 {
			c.log.Warn("ignoring stored table records the daemon does not write", "source", source, "table", name, "records", ignored)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil, ErrClosed
	}
	if other := c.tables[id]; other != nil { // opened meanwhile by another call
		other.limits = l
		return other, nil
	}
	c.tables[id] = t
	return t, nil
}

// openedTable returns the table id if it is open, with limits l from now on; nil
// otherwise, and ErrClosed when it is not open and the daemon is shutting down.
func (c *Committer) openedTable(id tableID, l adapters.TableLimits) (*table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tables[id]
	switch {
	case t != nil:
		t.limits = l
	case c.closing:
		return nil, ErrClosed
	}
	return t, nil
}

// tableLimits checks l and replaces its zero fields with the maxima.
func tableLimits(l adapters.TableLimits) (adapters.TableLimits, error) {
	switch {
	case l.MaxEntries < 0 || l.MaxEntries > adapters.MaxTableEntries:
		return l, fmt.Errorf("MaxEntries %d is outside 0 to %d", l.MaxEntries, adapters.MaxTableEntries)
	case l.MaxValue < 0 || l.MaxValue > adapters.MaxTableValue:
		return l, fmt.Errorf("MaxValue %d is outside 0 to %d", l.MaxValue, adapters.MaxTableValue)
	}
	if l.MaxEntries == 0 {
		l.MaxEntries = adapters.MaxTableEntries
	}
	if l.MaxValue == 0 {
		l.MaxValue = adapters.MaxTableValue
	}
	return l, nil
}

// Get implements adapters.Table.
func (t *table) Get(key string) []byte {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if e := t.entries[key]; e != nil && e.cur != nil {
		return bytes.Clone(e.cur)
	}
	return nil
}

// Set implements adapters.Table.
func (t *table) Set(key string, value []byte) error {
	if err := adapters.CheckTableKey(key); err != nil {
		return fmt.Errorf("table %s: %w", t.id.name, err)
	}
	if len(value) == 0 {
		value = nil
	}
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return ErrClosed
	}
	if len(value) > t.limits.MaxValue {
		return fmt.Errorf("table %s: a value of %d bytes, the limit is %d: %w",
			t.id.name, len(value), t.limits.MaxValue, adapters.ErrStateLimit)
	}
	e := t.entries[key]
	if value != nil && (e == nil || e.cur == nil) && t.live >= t.limits.MaxEntries {
		return fmt.Errorf("table %s: it holds %d records, the limit is %d: %w",
			t.id.name, t.live, t.limits.MaxEntries, adapters.ErrStateLimit)
	}
	c.setLocked(&t.space, key, e, value)
	return nil
}

// Range implements adapters.Table.
func (t *table) Range(f func(key string, value []byte) bool) {
	type record struct {
		key   string
		value []byte
	}
	t.c.mu.Lock()
	list := make([]record, 0, t.live)
	for k, e := range t.entries {
		if e.cur != nil {
			// cur is never written to once Set: a new value replaces the slice.
			list = append(list, record{k, e.cur})
		}
	}
	t.c.mu.Unlock()
	slices.SortFunc(list, func(a, b record) int { return strings.Compare(a.key, b.key) })
	for _, r := range list {
		if !f(r.key, r.value) {
			return
		}
	}
}

// Len implements adapters.Table.
func (t *table) Len() int {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.live
}

// Flush implements adapters.Table.
func (t *table) Flush(ctx context.Context) error { return t.c.flush(ctx, &t.space) }
