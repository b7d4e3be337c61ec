package daemon

import (
	"context"
	"errors"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/daemon/web"
	"github.com/edgerelay/edgerelay/store"
)

// The status page's bounds (daemon/web's Status): it reads what the daemon keeps
// anyway — the health tracker, the pipeline's lanes, the store's counters, the
// metrics' counters and the dead-letter counts of refreshDead — and keeps only two
// things of its own, the counter samples for the rates and a ring of recent errors.
const (
	// pageText bounds every error text and reason on the page.
	pageText = 240
	// pageDeadPerSink and pageDeadMax bound the listed dead letters.
	pageDeadPerSink = 20
	pageDeadMax     = 100
	// pageErrors is the length of the recent-error ring.
	pageErrors = 50
	// rateWindow is the span the rates are measured over, sampled every statusEvery.
	rateWindow = 10 * time.Second
	// pageFresh is how long one built document answers every request and stream: the
	// API is open to anyone who reaches the port, and each stream reads it every
	// web.StreamEvery, so that however many ask, the daemon builds it (and walks the
	// dead letters) at most about once a second.
	pageFresh = time.Second
)

// pageView is the status page's state kept by the daemon: the rate samples (added by
// the status loop) and the recent errors (added by a bus handler).
type pageView struct {
	mu      sync.Mutex
	samples []rateSample // oldest first, spanning at most rateWindow
	errs    []web.ErrorInfo
	dead    map[string]int // dead letters per sink, from refreshDead
	cache   pageCache
}

// pageCache is the last document built, shared by every reader for pageFresh.
type pageCache struct {
	// mu is held while a document is built, so that one build runs at a time and the
	// readers that come meanwhile wait for it and take its result.
	mu     sync.Mutex
	at     time.Time // when doc was built; zero: none, or invalidated
	doc    web.Status
	builds int // documents built, for the tests
}

// get returns the cached document while it is fresh, else builds one with build.
func (c *pageCache) get(now time.Time, build func() web.Status) web.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	if age := now.Sub(c.at); c.at.IsZero() || age < 0 || age >= pageFresh {
		c.doc, c.at = build(), now
		c.builds++
	}
	return c.doc
}

// invalidate makes the next reader build the document anew: after an action, so that
// the page that asked for it sees its outcome at once.
func (c *pageCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = time.Time{}
}

// rateSample is the event counters at one moment.
type rateSample struct {
	at  time.Time
	in  map[string]uint64 // by source
	out map[string]uint64 // by sink
}

// counters reads the events received by each of sources and delivered by each of sinks.
func (d *Daemon) counters(sources []source, sinks []pipeline.Sink) (in, out map[string]uint64) {
	in, out = make(map[string]uint64, len(sources)), make(map[string]uint64, len(sinks))
	for _, s := range sources {
		in[s.name] = d.m.EventsIn(s.name).Get()
	}
	for _, s := range sinks {
		out[s.Name] = d.m.EventsOut(s.Name).Get()
	}
	return in, out
}

// sample records the counters; the status loop calls it every statusEvery.
func (d *Daemon) sampleRates() {
	s := rateSample{at: d.now()}
	s.in, s.out = d.counters(d.sourceList(), d.sinkList())
	v := &d.page
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := len(v.samples); n > 0 && s.at.Sub(v.samples[n-1].at) < time.Second {
		return // the status loop also refreshes on every condition change
	}
	v.samples = append(v.samples, s)
	for len(v.samples) > 2 && s.at.Sub(v.samples[1].at) >= rateWindow {
		v.samples = v.samples[1:]
	}
}

// rates returns events per second by source and by sink over the sampled window,
// counted up to the counters' values now.
func (v *pageView) rates(now time.Time, in, out map[string]uint64) (rin, rout map[string]float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	rin, rout = map[string]float64{}, map[string]float64{}
	if len(v.samples) == 0 {
		return rin, rout
	}
	first := v.samples[0]
	secs := now.Sub(first.at).Seconds()
	if secs < 1 { // too short a span to say anything
		return rin, rout
	}
	for k, n := range in {
		rin[k] = float64(n-min(n, first.in[k])) / secs
	}
	for k, n := range out {
		rout[k] = float64(n-min(n, first.out[k])) / secs
	}
	return rin, rout
}

// recordError is the bus handler that keeps the recent errors: a condition that
// starts failing, a sink that lost its connection, a failed send, a dead letter, a
// quarantined store. An error already in the ring (for failed sends: any of the same
// sink) is counted and moved to the end instead of pushing the others out: a sink that
// is down fails every retry. It runs inside Publish: it only copies under its lock.
func (v *pageView) recordError(e events.Event) {
	info := web.ErrorInfo{Time: e.Time, Kind: e.Kind.String(), Reason: e.Reason, Count: 1}
	switch e.Kind {
	case events.ReadinessChanged:
		if e.To == events.StateOK || e.To == "" {
			return
		}
		info.Component = e.Component
		info.Reason = e.Condition + " " + e.To
		if e.Reason != "" {
			info.Reason += ": " + e.Reason
		}
	case events.SinkDisconnected, events.Retried, events.DeadLettered:
		info.Component = "sink:" + e.Sink
		if e.Kind == events.DeadLettered {
			info.Reason = "dead-lettered " + e.EventID + ": " + e.Reason
		}
	case events.StoreQuarantined:
		info.Component = "store"
		info.Reason = "quarantined: " + e.Reason
	default:
		return
	}
	info.Reason = cut(info.Reason, pageText)
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range v.errs {
		l := v.errs[i]
		if l.Kind == info.Kind && l.Component == info.Component && (l.Reason == info.Reason || e.Kind == events.Retried) {
			// Seen before: counted, and moved to the end as the latest.
			info.Count = l.Count + 1
			v.errs = append(v.errs[:i], v.errs[i+1:]...)
			break
		}
	}
	if len(v.errs) == pageErrors {
		v.errs = append(v.errs[:0], v.errs[1:]...)
	}
	v.errs = append(v.errs, info)
}

// pageErrorKinds are the kinds recordError keeps.
var pageErrorKinds = []events.Kind{events.ReadinessChanged, events.SinkDisconnected, events.Retried,
	events.DeadLettered, events.StoreQuarantined}

func (v *pageView) setDead(by map[string]int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dead = by
}

func (v *pageView) deadCount(sink string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.dead[sink]
}

// statusPage is the daemon as the web server's StatusProvider.
type statusPage struct{ d *Daemon }

var _ web.StatusProvider = statusPage{}

// Status returns the page's document, built at most once per pageFresh for all
// readers (pageCache).
func (p statusPage) Status() web.Status {
	return p.d.page.cache.get(p.d.now(), p.build)
}

// build assembles the page's document.
func (p statusPage) build() web.Status {
	d := p.d
	now := d.now()
	pat := d.LEDPattern()
	st := web.Status{
		Node: d.cfg.Node.ID, Version: d.opt.Version, Started: d.started, Now: now,
		State: d.health.Node(), Stopping: d.health.Stopping(),
		LED:     web.LEDStatus{Pattern: pat.String(), Meaning: pat.Meaning(), Colour: pat.Colour().String(), Fitted: d.ind != nil},
		Sources: []web.SourceInfo{}, Sinks: []web.SinkInfo{}, DeadLetters: []web.DeadInfo{},
	}
	if st.Version == "" {
		st.Version = "dev"
	}
	for _, s := range pat.Steps() {
		st.LED.Steps = append(st.LED.Steps, web.LEDStep{On: s.On, MS: s.D.Milliseconds()})
	}
	failing := map[string][]health.Condition{}
	for _, c := range d.health.Snapshot() {
		if c.Failing() {
			failing[c.Component] = append(failing[c.Component], c)
		}
	}
	sources, sinks := d.sourceList(), d.sinkList() // a reload replaces them
	in, out := d.counters(sources, sinks)
	rin, rout := d.page.rates(now, in, out)
	for _, s := range sources {
		info := web.SourceInfo{Name: s.name, Type: s.typ, State: "ok", Received: in[s.name], Rate: rin[s.name]}
		if cs := failing["source:"+s.name]; len(cs) > 0 {
			info.State, info.Error = componentState(cs)
		}
		st.Sources = append(st.Sources, info)
	}
	for _, s := range sinks {
		ls, _ := d.pipe.SinkStatus(s.Name)
		info := web.SinkInfo{
			Name: s.Name, Type: d.sinkTypeOf(s.Name), State: sinkState(failing["sink:"+s.Name]),
			Delivered: out[s.Name], Rate: rout[s.Name], Retries: d.m.Retries(s.Name).Get(),
			Depth: ls.Depth, InFlight: ls.InFlight, Oldest: ls.Oldest, Dead: d.page.deadCount(s.Name),
		}
		if ls.LastError != "" && (ls.Failing || !ls.Connected) {
			info.LastError = cut(ls.LastError, pageText)
		}
		st.Sinks = append(st.Sinks, info)
	}
	st.DeadLetters, st.DeadLettersMore = d.pageDead()
	d.page.mu.Lock()
	st.Errors = append([]web.ErrorInfo{}, d.page.errs...)
	d.page.mu.Unlock()

	sp := d.db.Space()
	c := d.db.Counters()
	moved, _ := d.db.Quarantined()
	st.Store = web.StoreInfo{LiveBytes: sp.Live, MaxBytes: sp.Max, Full: sp.Full, Commits: c.Commits,
		BytesWritten: c.BytesWritten, Quarantined: moved != ""}
	if fi, err := os.Stat(d.db.Path()); err == nil {
		st.Store.FileBytes = fi.Size()
	}
	return st
}

// componentState is a source's state (down for a failing critical condition, else
// degraded) and the detail of its worst condition.
func componentState(cs []health.Condition) (state, detail string) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Severity != cs[j].Severity {
			return cs[i].Severity > cs[j].Severity
		}
		return cs[i].Name < cs[j].Name
	})
	state = "degraded"
	if cs[0].Severity == health.Critical {
		state = "down"
	}
	detail = cs[0].Name
	if cs[0].Detail != "" {
		detail += ": " + cs[0].Detail
	}
	return state, cut(detail, pageText)
}

// sinkState names a sink's state as the STATUS line does: down, retrying, draining
// or ok (dead letters alone leave it ok: the count says it).
func sinkState(cs []health.Condition) string {
	has := func(name string) bool {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
		return false
	}
	switch {
	case has("connected"):
		return "down"
	case has("delivering"):
		return "retrying"
	case has("draining"):
		return "draining"
	}
	return "ok"
}

// pageDead lists the first dead letters of each sink and of @rejected, bounded, with
// what each holds (never its payload) and whether it may be retried (pipeline.Inspect,
// the rule RetryDead applies). It reads them in place (store.DB.InspectDead) and
// decodes only the events' ids and attributes, so that a page open on a node with
// dead letters of large events costs no copy of them.
func (d *Daemon) pageDead() (list []web.DeadInfo, more bool) {
	list = []web.DeadInfo{}
	sinks := append(d.sinkNames(), pipeline.RejectedSink)
	for _, s := range sinks {
		if d.page.deadCount(s) == 0 && s != pipeline.RejectedSink {
			continue
		}
		n := 0
		_ = d.db.InspectDead(s, nil, pageDeadPerSink+1, func(x store.Dead) error {
			n++
			if n > pageDeadPerSink || len(list) >= pageDeadMax {
				more = true
				return errStopScan
			}
			info := web.DeadInfo{Sink: s, Seq: x.Seq, Reason: cut(x.Reason, pageText), At: x.At, Bytes: len(x.Data), Retryable: true}
			c, ok := pipeline.Inspect(&x)
			info.EventID = cut(c.ID, 80)
			switch {
			case s == pipeline.RejectedSink:
				info.Retryable, info.Why = false, "refused at intake: no sink to retry it to"
			case ok:
			case c.Kind == pipeline.CutCorrupt:
				info.Retryable, info.Why = false, "corrupt record: never delivered"
			case c.Kind == pipeline.CutUndecodable:
				info.Retryable, info.Why = false, "undecodable record: never delivered"
			default:
				info.Retryable = false
				info.Why = "truncated record of a " + strconv.Itoa(c.Bytes) + "-byte event: not the event"
			}
			list = append(list, info)
			return nil
		})
	}
	return list, more
}

var errStopScan = errors.New("enough")

// RetryDead retries dead letters from the page, through the running pipeline.
func (p statusPage) RetryDead(ctx context.Context, sink string, seqs []uint64) (int, string, error) {
	r, err := p.d.pipe.RetryDead(ctx, sink, seqs)
	p.d.deadChanged()
	p.d.page.cache.invalidate()
	return r.Done, secret.Redact(r.Left), pageError(err)
}

// DropDead drops dead letters from the page.
func (p statusPage) DropDead(ctx context.Context, sink string, seqs []uint64) (int, string, error) {
	r, err := p.d.pipe.DropDead(ctx, sink, seqs)
	p.d.deadChanged()
	p.d.page.cache.invalidate()
	return r.Done, secret.Redact(r.Left), pageError(err)
}

// pageError maps the pipeline's errors onto the web server's answers: the same text,
// matching the web package's error too.
func pageError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pipeline.ErrNoSuchSink):
		return kindError{web.ErrUnknownSink, err}
	case errors.Is(err, pipeline.ErrNotRetryable):
		return kindError{web.ErrRefused, err}
	case errors.Is(err, pipeline.ErrStopping), errors.Is(err, pipeline.ErrStarting), errors.Is(err, store.ErrClosed),
		errors.Is(err, context.Canceled):
		return kindError{web.ErrUnavailable, err}
	}
	return err
}

// kindError is err that also matches kind.
type kindError struct{ kind, err error }

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.kind, e.err} }
