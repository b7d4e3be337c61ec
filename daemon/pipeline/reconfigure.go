package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
)

// sinkSet is what Publish reads to route an event and queue it: the router, the
// sources whose events are never stored or never held back, and the lanes. It is
// never changed once published in Pipeline.sinks; a reconfiguration publishes a new
// one, so an event is routed and queued against one consistent set.
type sinkSet struct {
	router     *Router
	unbuffered map[string]bool // sources with ack: delivered
	prompt     map[string]bool // sources never held back (Options.Prompt)
	byName     map[string]*lane
	order      []*lane // configuration order
}

func (s *sinkSet) setRouting(r *Router, unbuffered, prompt []string) {
	s.router = r
	s.unbuffered = make(map[string]bool, len(unbuffered))
	for _, n := range unbuffered {
		s.unbuffered[n] = true
	}
	s.prompt = make(map[string]bool, len(prompt))
	for _, n := range prompt {
		s.prompt[n] = true
	}
}

// clone copies the set for a change; the lanes themselves are shared.
func (s *sinkSet) clone() *sinkSet {
	c := *s
	c.byName = make(map[string]*lane, len(s.byName))
	for k, v := range s.byName {
		c.byName[k] = v
	}
	c.order = append([]*lane(nil), s.order...)
	return &c
}

// ErrNotRunning refuses a reconfiguration before Run has started its lanes or once it
// is stopping.
var ErrNotRunning = errors.New("pipeline is not running")

// Change is one reconfiguration of a running pipeline (see Reconfigure). Sinks are
// matched by name.
type Change struct {
	// Add lists sinks to start. Events already in the store under a sink's name (its
	// outbox from an earlier configuration) are delivered too, in order.
	Add []Sink
	// Replace lists sinks whose adapter is swapped, keeping their queue: in memory
	// and in the store, in order, with each event's attempts.
	Replace []Sink
	// Remove names sinks to stop. Their queued events stay in the store (stranded
	// until the sink is configured again or moved with `edgerelay queue move`).
	Remove []string
	// Router, Unbuffered and Prompt replace the routing, as Options has them. The
	// routing is always replaced: pass the current one to keep it.
	Router     *Router
	Unbuffered []string
	Prompt     []string
	// Order is the new configuration order of the sinks, for Status; names it does
	// not list go last.
	Order []string
}

// Reconfigure applies c to the running pipeline without losing an event:
//
//  1. the added sinks' lanes start (an outbox the store already holds for one is
//     paged in as a backlog, on the writer goroutine);
//  2. each replaced sink's lane stops taking items, its in-flight sends get the
//     drain timeout to finish (then they are cancelled and count as a failed
//     attempt: the event stays queued), the new adapter takes the lane over with its
//     queue, and connects;
//  3. the routing is swapped at once, for the next Publish;
//  4. the removed sinks' lanes stop as a replaced one does; the events they still
//     hold in memory only are written to their outbox by the writer (the lane is no
//     longer healthy, so nothing holds them back), which is where they stay.
//
// It returns the adapters of the replaced and removed sinks, which the caller closes
// once Reconfigure returns: nothing sends through them any more. The sinks of c must
// not be in use elsewhere. It fails without changing anything when Run is not
// running or a name does not fit (an added sink that exists, a replaced or removed
// one that does not).
func (p *Pipeline) Reconfigure(c Change) (old []adapters.Sink, err error) {
	if c.Router == nil {
		return nil, errors.New("pipeline: Reconfigure needs a router")
	}
	p.reconfMu.Lock()
	defer p.reconfMu.Unlock()
	select {
	case <-p.started:
	default:
		return nil, ErrNotRunning
	}
	ctx := p.ctx()
	if ctx.Err() != nil || p.stopping.Load() {
		return nil, ErrNotRunning
	}
	cur := p.sinks.Load()
	for _, s := range c.Add {
		if cur.byName[s.Name] != nil {
			return nil, fmt.Errorf("pipeline: sink %q to add already runs", s.Name)
		}
	}
	for _, s := range c.Replace {
		if cur.byName[s.Name] == nil {
			return nil, fmt.Errorf("pipeline: sink %q to replace does not run", s.Name)
		}
	}
	for _, n := range c.Remove {
		if cur.byName[n] == nil {
			return nil, fmt.Errorf("pipeline: sink %q to remove does not run", n)
		}
	}
	p.runMu.Lock()
	sendCtx := p.sendCtx
	p.runMu.Unlock()

	next := cur.clone()
	if len(c.Add) > 0 {
		// One walk of the store for the depth of the outboxes added sinks find.
		// Nothing writes to them before the new set is published below.
		stats, err := p.opt.DB.Stats()
		if err != nil {
			return nil, fmt.Errorf("read the outboxes: %w", err)
		}
		for _, s := range c.Add {
			l := newLane(p, s)
			l.startLive(ctx, sendCtx, stats.Sinks[s.Name].Pending)
			next.byName[s.Name] = l
			next.order = append(next.order, l)
		}
	}
	// The lanes drain side by side: a reload waits one drain timeout, not one a sink.
	var replaced []*lane
	for _, s := range c.Replace {
		replaced = append(replaced, cur.byName[s.Name])
	}
	haltAll(ctx, replaced, p.opt.DrainTimeout)
	for i, s := range c.Replace {
		l := replaced[i]
		old = append(old, l.swap(s))
		l.launch(ctx, sendCtx)
	}
	next.setRouting(c.Router, c.Unbuffered, c.Prompt)
	var removed []*lane
	for _, n := range c.Remove {
		removed = append(removed, next.byName[n])
		delete(next.byName, n)
	}
	next.order = reorder(next.order, next.byName, c.Order)
	p.sinks.Store(next)
	// A Publish that loaded the previous set may still queue an item on a removed
	// lane after this point: halted and disconnected, the lane never holds it back,
	// so the writer stores it in that sink's outbox like the others.
	haltAll(ctx, removed, p.opt.DrainTimeout)
	for _, l := range removed {
		l.stop()
		old = append(old, l.sink)
	}
	return old, nil
}

// haltAll halts the lanes in parallel (lane.halt) and returns once all are halted.
func haltAll(ctx context.Context, ls []*lane, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() { // returns once the lane halted
			defer wg.Done()
			l.halt(ctx, timeout)
		}()
	}
	wg.Wait()
}

// reorder returns the lanes in byName ordered as names, then the others in their
// current order.
func reorder(cur []*lane, byName map[string]*lane, names []string) []*lane {
	out := make([]*lane, 0, len(byName))
	seen := map[*lane]bool{}
	for _, n := range names {
		if l := byName[n]; l != nil && !seen[l] {
			out = append(out, l)
			seen[l] = true
		}
	}
	for _, l := range cur {
		if byName[l.name] == l && !seen[l] {
			out = append(out, l)
			seen[l] = true
		}
	}
	return out
}

// startLive starts a lane added while the pipeline runs. Unlike start it must not
// read the store itself (commits land concurrently): it begins in backlog mode,
// like every lane, and its first page is read on the writer goroutine.
func (l *lane) startLive(ctx, sendCtx context.Context, stored int) {
	l.mu.Lock()
	l.depth += int64(stored)
	l.lastProgress = l.p.now()
	l.started = true
	l.maybeLoadLocked()
	l.mu.Unlock()
	l.launch(ctx, sendCtx)
}

// swap hands the halted lane to s's adapter, with s's in-flight limit and retry
// policy, and returns the adapter it replaced. The queue is untouched; the lane
// connects the new adapter when launched again.
func (l *lane) swap(s Sink) adapters.Sink {
	n := s.MaxInFlight
	if n <= 0 {
		n = 1
	}
	l.mu.Lock()
	old := l.sink
	l.sink, l.maxInFlight, l.retry = s.Sink, n, s.Retry.WithDefaults()
	l.lastErr = ""
	l.setFailingLocked(false)
	l.checkLocked("swap")
	l.mu.Unlock()
	select {
	case l.connReq <- struct{}{}:
	default:
	}
	return old
}
