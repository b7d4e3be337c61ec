package receiver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/internal/memtable"
)

// maxRecord bounds one alert's record in the table; an alert whose record would be
// larger is kept without its last body (it cannot be re-sent after a 404).
const maxRecord = 64 << 10

// change is what an event needs to know of the alert a request changed.
type change struct {
	id     string // the stored id: the event's Key
	dedup  string // alerta.dedup: the alert's first de-duplication key
	resend []byte // the alert's last body, for alerta.resend; nil when unknown
}

// alertAttrs sets alerta.id, alerta.dedup and alerta.resend on an action's or a
// delete's event.
func (c *change) alertAttrs(ev *adapters.Event) {
	ev.Attrs[alerta.AttrID] = c.id
	ev.Attrs[alerta.AttrDedup] = c.dedup
	if len(c.resend) > 0 {
		ev.Attrs[alerta.AttrResend] = string(c.resend)
	}
}

// result is the answer to an alert that was taken.
type result struct {
	id     string // the stored id
	output []byte // the alert object
}

// alertKey is the lock key of an alert: its environment and resource, which every
// alert it can be a duplicate or a correlation of shares (§6), and which neither
// de-duplication nor correlation changes.
func alertKey(environment, resource string) string { return environment + "\x00" + resource }

// openTable opens the source's table of alerts, or an in-memory one when the
// daemon gives none.
func openTable(d adapters.Deps, maxAlerts int) (adapters.Table, error) {
	if d.Table == nil {
		return memtable.New(), nil
	}
	return d.Table(TableName, adapters.TableLimits{MaxEntries: maxAlerts, MaxValue: maxRecord})
}

// restore loads the book from the table. A record that does not decode is logged
// and deleted: it can describe no alert the book could answer for.
func (s *Source) restore() {
	var bad, evicted []string
	s.table.Range(func(key string, value []byte) bool {
		st := new(alerta.Stored)
		if err := st.UnmarshalBinary(value); err != nil || st.ID != key {
			bad = append(bad, key)
			return true
		}
		// Beyond max_alerts (lowered since the records were written) the book
		// evicts as it does for a new alert.
		evicted = append(evicted, s.book.Load(st)...)
		return true
	})
	if len(bad) > 0 {
		s.log.Warn("alerta: dropping alert records that do not decode", "table", TableName, "records", len(bad))
	}
	s.dropEvicted(append(bad, evicted...))
	if n := s.book.Len(); n > 0 {
		s.log.Info("alerta: alerts restored", "alerts", n)
	}
}

// record encodes st for the table, without its body when it would be too large.
// The caller holds bookMu.
func record(st *alerta.Stored) []byte {
	b, err := st.MarshalBinaryLimit(maxRecord)
	if err != nil {
		// The book's MaxStored keeps every alert within the limit, so this does not
		// happen; if it did, the alert would be kept in memory only.
		return nil
	}
	return b
}

// lookup resolves id (an id, a last-receive id or a prefix) and returns the
// alert's lock key.
func (s *Source) lookup(id string) (string, bool) {
	s.bookMu.Lock()
	defer s.bookMu.Unlock()
	st, ok := s.book.Resolve(id)
	if !ok {
		return "", false
	}
	return alertKey(st.Environment, st.Resource), true
}

// reload puts prior back into the book and the table, or removes id from both
// when prior is nil: it undoes a change whose event the relay refused. A Stored the
// book returned is never modified, so prior is the alert as it was.
func (s *Source) reload(id string, prior *alerta.Stored) {
	var rec []byte
	var evicted []string
	s.bookMu.Lock()
	if prior == nil {
		s.book.Delete(id)
	} else {
		evicted = s.book.Load(prior)
		rec = record(prior)
	}
	s.bookMu.Unlock()
	s.dropEvicted(evicted)
	if err := s.table.Set(id, rec); err != nil {
		s.log.Warn("alerta: undo an alert record", "err", err)
	}
}

// commit records rec (nil: deletes the record) under id, publishes ev and waits
// until the event is settled and the record durable. If the event is refused,
// undo puts the book back and the request must be answered 503. When only the
// flush fails the change stays: the event is the relay's, and the client's retry
// is a harmless duplicate.
func (s *Source) commit(ctx context.Context, ev *adapters.Event, id string, rec []byte, undo func()) error {
	pub := s.publisher()
	if pub == nil {
		undo()
		return errNotRunning
	}
	if err := s.table.Set(id, rec); err != nil {
		undo()
		return fmt.Errorf("record alert: %w", err)
	}
	flushed := make(chan error, 1)
	// The goroutine ends when Flush returns, at the latest when ctx ends.
	go func() { flushed <- s.table.Flush(ctx) }()
	_, perr := adapters.PublishSettle(ctx, pub, ev)
	ferr := <-flushed
	if perr != nil {
		undo()
		return fmt.Errorf("publish %s event %s: %w", ev.Attrs[alerta.AttrOp], ev.ID, perr)
	}
	if ferr != nil {
		return fmt.Errorf("flush the alert's record: %w", ferr)
	}
	return nil
}

// evict deletes the records of the alerts the book evicted, so that the table
// never holds more than max_alerts records, and returns them to be put back by
// restoreEvicted if the change that evicted them is undone.
func (s *Source) evict(evicted []string) map[string][]byte {
	gone := make(map[string][]byte, len(evicted))
	for _, id := range evicted {
		gone[id] = s.table.Get(id)
	}
	s.dropEvicted(evicted)
	return gone
}

// restoreEvicted puts the alerts evict returned back into the book and the
// table.
func (s *Source) restoreEvicted(gone map[string][]byte) {
	for id, rec := range gone {
		if st := new(alerta.Stored); rec != nil && st.UnmarshalBinary(rec) == nil {
			s.reload(id, st)
		}
	}
}

// dropEvicted deletes the records of alerts the book evicted.
func (s *Source) dropEvicted(ids []string) {
	for _, id := range ids {
		if err := s.table.Set(id, nil); err != nil {
			s.log.Warn("alerta: delete an evicted alert's record", "err", err)
		}
	}
}

// receive applies a received alert to the book and publishes the event mk builds
// for it. An *alerta.Error is Alerta's answer (the book refused the alert); an
// error means the relay did not take it.
func (s *Source) receive(ctx context.Context, a *alerta.Alert, mk func(*change) *adapters.Event) (result, *alerta.Error, error) {
	unlock, err := s.locks.lock(ctx, alertKey(a.Environment, a.Resource))
	if err != nil {
		return result{}, nil, err
	}
	defer unlock()
	s.bookMu.Lock()
	// The alert a folds into, as it is now: the book never modifies a Stored it
	// handed out, so this is the snapshot to undo the change with.
	prior, _ := s.book.Match(a)
	st, _, evicted, e := s.book.Receive(a, s.now())
	if e != nil {
		s.bookMu.Unlock()
		return result{}, e, nil
	}
	c := &change{id: st.ID, dedup: st.DedupKey}
	res := result{id: st.ID, output: st.Output(s.baseURL)}
	rec := record(st)
	s.bookMu.Unlock()
	gone := s.evict(evicted)
	if prior != nil && prior.ID != st.ID {
		// The book folded a into another alert than Match said; nothing to undo
		// it with but the alert as it is.
		prior = st
	}
	undo := func() {
		s.reload(c.id, prior)
		s.restoreEvicted(gone)
	}
	if err := s.commit(ctx, mk(c), c.id, rec, undo); err != nil {
		return result{}, nil, err
	}
	return res, nil, nil
}

// act applies an action to the alert id names (key is its lock key, from lookup)
// and publishes the event mk builds.
func (s *Source) act(ctx context.Context, id, key string, a *alerta.Action, mk func(*change) *adapters.Event) (result, *alerta.Error, error) {
	return s.alter(ctx, id, key, mk, func(sid string) (*alerta.Stored, []string, *alerta.Error) {
		return s.book.Act(sid, a, s.now())
	})
}

// remove deletes the alert id names (key is its lock key, from lookup) and
// publishes the event mk builds.
func (s *Source) remove(ctx context.Context, id, key string, mk func(*change) *adapters.Event) (*alerta.Error, error) {
	_, e, err := s.alter(ctx, id, key, mk, func(sid string) (*alerta.Stored, []string, *alerta.Error) {
		s.book.Delete(sid)
		return nil, nil, nil
	})
	return e, err
}

// alter changes the alert id names, whose lock key lookup returned, with f (under
// bookMu; a nil Stored means f deleted it; the ids are the alerts the book evicted
// to make room), publishes the event mk builds and waits for it, undoing the change
// when the relay refuses the event. The handler resolved id already, so the
// resolution is not repeated before the lock, only checked again under it.
func (s *Source) alter(ctx context.Context, id, key string, mk func(*change) *adapters.Event, f func(sid string) (*alerta.Stored, []string, *alerta.Error)) (result, *alerta.Error, error) {
	unlock, err := s.locks.lock(ctx, key)
	if err != nil {
		return result{}, nil, err
	}
	defer unlock()
	s.bookMu.Lock()
	st, ok := s.book.Resolve(id)
	if !ok || alertKey(st.Environment, st.Resource) != key {
		// Deleted or evicted while this request waited for the lock.
		s.bookMu.Unlock()
		return result{}, &alerta.Error{Code: http.StatusNotFound, Message: "not found"}, nil
	}
	sid, prior := st.ID, st
	c := &change{id: sid, dedup: st.DedupKey, resend: st.Body}
	after, evicted, e := f(sid)
	if e != nil {
		s.bookMu.Unlock()
		return result{}, e, nil
	}
	var rec []byte
	res := result{id: sid}
	if after != nil {
		rec = record(after)
		res.output = after.Output(s.baseURL)
	}
	s.bookMu.Unlock()
	gone := s.evict(evicted)
	undo := func() {
		s.reload(sid, prior)
		s.restoreEvicted(gone)
	}
	if err := s.commit(ctx, mk(c), sid, rec, undo); err != nil {
		return result{}, nil, err
	}
	return res, nil, nil
}

// beat publishes the event mk builds for a heartbeat (none when mk is nil) and
// then upserts it (heartbeats are kept in memory only, so there is nothing to
// undo). It returns the heartbeat's id and object. A heartbeat larger than the
// heartbeats' part of max_state_bytes is refused (413) before its event is
// published.
func (s *Source) beat(ctx context.Context, hb *alerta.Heartbeat, mk func() *adapters.Event) (string, []byte, *alerta.Error, error) {
	unlock, err := s.locks.lock(ctx, "heartbeat\x00"+hb.Origin)
	if err != nil {
		return "", nil, nil, err
	}
	defer unlock()
	s.bookMu.Lock()
	e := s.book.BeatFits(hb)
	s.bookMu.Unlock()
	if e != nil {
		return "", nil, e, nil
	}
	if mk != nil {
		pub := s.publisher()
		if pub == nil {
			return "", nil, nil, errNotRunning
		}
		ev := mk()
		if _, err := adapters.PublishSettle(ctx, pub, ev); err != nil {
			return "", nil, nil, fmt.Errorf("publish heartbeat event %s: %w", ev.ID, err)
		}
	}
	now := s.now()
	s.bookMu.Lock()
	defer s.bookMu.Unlock()
	b, e := s.book.Beat(hb, now)
	if e != nil {
		// BeatFits passed, so only an id longer than a UUID's could tip it over:
		// the event is the relay's, the heartbeat is not kept.
		return "", nil, e, nil
	}
	return b.ID, b.Output(s.baseURL, now), nil, nil
}

// output returns the alert object of the alert id names.
func (s *Source) output(id string) ([]byte, bool) {
	s.bookMu.Lock()
	defer s.bookMu.Unlock()
	st, ok := s.book.Resolve(id)
	if !ok {
		return nil, false
	}
	return st.Output(s.baseURL), true
}

// query answers GET /alerts.
func (s *Source) query(q url.Values) ([]byte, *alerta.Error) {
	s.bookMu.Lock()
	defer s.bookMu.Unlock()
	return s.book.Query(q, s.baseURL, s.now())
}

// heartbeats answers GET /heartbeats (alerta.Book.QueryHeartbeats): filters, and
// paging as GET /alerts, so an answer holds at most alerta.MaxPageSize heartbeats.
func (s *Source) heartbeats(q url.Values) ([]byte, *alerta.Error) {
	s.bookMu.Lock()
	defer s.bookMu.Unlock()
	return s.book.QueryHeartbeats(q, s.baseURL, s.now())
}
