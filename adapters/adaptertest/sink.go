package adaptertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
)

// Default bounds of the suites' waits. They only decide when a broken adapter fails
// the test; a healthy one finishes far sooner, and no case asserts a duration.
const (
	defaultArrival = 15 * time.Second // for deliveries to show up at a peer or a Recorder
	defaultReturn  = 10 * time.Second // for a call to return after its context ended
	pollInterval   = 10 * time.Millisecond
)

// patience holds the bounds of one suite run's waits.
type patience struct {
	arrival time.Duration // for deliveries to show up
	ret     time.Duration // for a call to return after its context ended
}

func newPatience(wait time.Duration) patience {
	if wait > 0 {
		return patience{arrival: wait, ret: wait}
	}
	return patience{arrival: defaultArrival, ret: defaultReturn}
}

// Delivery is one event as the test peer saw it.
type Delivery struct {
	// ID is the event id the peer received, or "" when the transport has no place
	// for it. When non-empty, the suite checks it matches the event sent.
	ID string
	// Payload is the body the peer received.
	Payload []byte
}

// SinkHarness connects RunSink to one sink type and a real peer (an httptest server,
// an in-process broker, a buffer). New and Received are required. The rest are
// capabilities some cases need: a case whose capability the harness leaves out is
// skipped on a developer machine and fails under CI (see Missing), unless Unsupported
// says why the adapter cannot support it.
type SinkHarness struct {
	// New returns a fresh, unconnected sink pointed at the test peer. The suite calls
	// Connect and Close itself.
	New func(t *testing.T) adapters.Sink
	// Received returns every delivery the peer accepted so far, in arrival order. It
	// may include deliveries from earlier cases: the suite tags its payloads and
	// filters. Deliveries the peer rejected (see FailNext) must not be listed.
	Received func(t *testing.T) []Delivery
	// FailNext makes the peer reject the next n deliveries: with a retryable failure
	// (HTTP 503, a failing write) or, when permanent, a permanent one (HTTP 400). A
	// kind of failure the sink cannot produce is declared in Unsupported (the suite
	// then never asks for it). PermanentErrorIsMarked and RetryableErrorIsNotPermanent
	// need it.
	FailNext func(t *testing.T, n int, permanent bool)
	// Restart makes the peer go away and come back (on the same address).
	// ReconnectAfterRestart needs it.
	Restart func(t *testing.T)
	// Ordered says the peer preserves arrival order, so SendMany and ConcurrentSend
	// check that sequential sends arrive in the order they were sent.
	Ordered bool
	// Secret is a secret configured into the sinks New returns (a password, a token,
	// URL userinfo). When set, every error any sink method returns during the suite is
	// checked not to contain it. NoSecretInErrors needs it.
	Secret string
	// Unsupported names the cases the adapter cannot support, each with the reason
	// (stdout has no peer to restart; a failed write is never permanent). The suite
	// skips such a case, under CI too, and logs the reason; a name that is no case of
	// the suite, or an empty reason, fails the run. A capability merely left out of
	// the harness is not a reason.
	Unsupported map[string]string
	// Wait bounds every wait for a delivery or for a call to return; a case fails when
	// it runs out. Zero means 15s for deliveries and 10s for returns.
	Wait time.Duration
}

// RunSink runs the sink conformance cases as subtests of t:
//
//   - ConnectClose, CloseWithoutConnect: the lifecycle without traffic;
//   - SendOne: one event's payload (and id, where the peer sees it) round-trips;
//   - SendMany: 200 sequential events, none lost, in order when Ordered;
//   - ConcurrentSend: 8 goroutines send at once, none lost. Every sink must be safe
//     for concurrent Send, even one registered with MaxInFlight 1;
//   - ContextCancelledSendReturns: Send with a cancelled context returns a
//     non-permanent error (no wall-clock assertion: it fails only after the Wait bound);
//   - PermanentErrorIsMarked, RetryableErrorIsNotPermanent (need FailNext): the
//     classification, and that the sink keeps working afterwards;
//   - ReconnectAfterRestart (needs Restart): after the peer restarts, retrying with
//     Connect on [adapters.ErrNotConnected], as the daemon does, delivers again;
//   - NoSecretInErrors (needs Secret): provokes errors and checks their text.
func RunSink(t *testing.T, h SinkHarness) {
	t.Helper()
	if h.New == nil || h.Received == nil {
		t.Fatal("adaptertest: SinkHarness needs New and Received")
	}
	r := &sinkRun{h: h, nonce: nonce(), patience: newPatience(h.Wait)}
	runCases(t, "SinkHarness", h.Unsupported, []suiteCase{
		{"ConnectClose", r.connectClose},
		{"CloseWithoutConnect", r.closeWithoutConnect},
		{"SendOne", r.sendOne},
		{"SendMany", r.sendMany},
		{"ConcurrentSend", r.concurrentSend},
		{"ContextCancelledSendReturns", r.contextCancelled},
		{"PermanentErrorIsMarked", r.permanentError},
		{"RetryableErrorIsNotPermanent", r.retryableError},
		{"ReconnectAfterRestart", r.reconnectAfterRestart},
		{"NoSecretInErrors", r.noSecretInErrors},
	})
}

type sinkRun struct {
	patience
	h     SinkHarness
	nonce string
}

// tag is the marker every payload of one case carries.
func (r *sinkRun) tag(t *testing.T) string { return caseTag(r.nonce, t) }

// caseTag returns "<nonce>/<case>/", the marker that keeps one case's payloads apart
// from everything else the peer has seen.
func caseTag(nonce string, t *testing.T) string {
	name := t.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return nonce + "/" + name + "/"
}

// event returns the i-th event of the current case.
func (r *sinkRun) event(t *testing.T, i int, key string) *adapters.Event {
	return &adapters.Event{
		ID:       adapters.NewID(),
		Kind:     adapters.KindRaw,
		Key:      key,
		Source:   "conformance",
		Topic:    "conformance/" + strings.TrimSuffix(r.tag(t), "/"),
		Payload:  fmt.Appendf(nil, `{"conformance":"%s%d","seq":%d}`, r.tag(t), i, i),
		Attrs:    map[string]string{"conformance": "yes"},
		Received: time.Now(),
	}
}

// sink returns a fresh sink whose every error is checked for the harness secret, and
// that is closed at the end of the case if the case did not close it.
func (r *sinkRun) sink(t *testing.T) *guardedSink {
	s := r.h.New(t)
	if s == nil {
		t.Fatal("adaptertest: SinkHarness.New returned nil")
	}
	g := &guardedSink{t: t, s: s, secret: r.h.Secret}
	t.Cleanup(func() {
		if !g.closed {
			_ = g.Close(context.Background())
		}
	})
	return g
}

// connected is sink followed by a Connect that must succeed.
func (r *sinkRun) connected(t *testing.T) *guardedSink {
	s := r.sink(t)
	ctx, cancel := context.WithTimeout(context.Background(), r.ret)
	defer cancel()
	if err := s.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return s
}

// waitDelivered waits until the peer has accepted every event in want (matched by
// payload) and returns the matching deliveries of this case in arrival order.
func (r *sinkRun) waitDelivered(t *testing.T, want []*adapters.Event) []Delivery {
	t.Helper()
	tag := []byte(r.tag(t))
	var got []Delivery
	var missing []string
	deadline := time.Now().Add(r.arrival)
	for {
		got = got[:0]
		for _, d := range r.h.Received(t) {
			if bytes.Contains(d.Payload, tag) {
				got = append(got, d)
			}
		}
		seen := make(map[string]bool, len(got))
		for _, d := range got {
			seen[string(d.Payload)] = true
		}
		missing = missing[:0]
		for _, e := range want {
			if !seen[string(e.Payload)] {
				missing = append(missing, string(e.Payload))
			}
		}
		if len(missing) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(pollInterval)
	}
	first := missing
	if len(first) > 3 {
		first = first[:3]
	}
	t.Fatalf("after %s the peer has %d of %d events; missing %d, first %q", r.arrival, len(want)-len(missing), len(want), len(missing), first)
	return nil
}

// checkIDs fails if a delivery that carries an id carries a different one than the
// event with the same payload.
func checkIDs(t *testing.T, want []*adapters.Event, got []Delivery) {
	t.Helper()
	ids := make(map[string]string, len(want))
	for _, e := range want {
		ids[string(e.Payload)] = e.ID
	}
	for _, d := range got {
		if d.ID != "" && ids[string(d.Payload)] != "" && d.ID != ids[string(d.Payload)] {
			t.Fatalf("delivery of %s carries id %q, want %q", d.Payload, d.ID, ids[string(d.Payload)])
		}
	}
}

func (r *sinkRun) connectClose(t *testing.T) {
	s := r.connected(t)
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close after Connect: %v", err)
	}
}

func (r *sinkRun) closeWithoutConnect(t *testing.T) {
	s := r.sink(t)
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close without Connect: %v", err)
	}
}

func (r *sinkRun) sendOne(t *testing.T) {
	s := r.connected(t)
	e := r.event(t, 0, "one")
	e.Payload = fmt.Appendf(nil, `{"conformance":"%s0","text":"héllo \"wörld\" <&>","n":[1,2.5,null,true]}`, r.tag(t))
	if err := s.Send(context.Background(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := r.waitDelivered(t, []*adapters.Event{e})
	if !bytes.Equal(got[0].Payload, e.Payload) {
		t.Fatalf("payload changed in transit:\n got %s\nwant %s", got[0].Payload, e.Payload)
	}
	checkIDs(t, []*adapters.Event{e}, got)
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func (r *sinkRun) sendMany(t *testing.T) {
	const n = 200
	s := r.connected(t)
	want := make([]*adapters.Event, n)
	for i := range want {
		want[i] = r.event(t, i, "many")
		if err := s.Send(context.Background(), want[i]); err != nil {
			t.Fatalf("Send %d of %d: %v", i, n, err)
		}
	}
	got := r.waitDelivered(t, want)
	checkIDs(t, want, got)
	if r.h.Ordered {
		checkOrder(t, want, got)
	}
}

// checkOrder fails unless the first arrivals of want's payloads appear in want's order.
func checkOrder(t *testing.T, want []*adapters.Event, got []Delivery) {
	t.Helper()
	pos := make(map[string]int, len(want))
	for i, e := range want {
		pos[string(e.Payload)] = i
	}
	next := 0
	seen := make(map[string]bool, len(want))
	for _, d := range got {
		i, ok := pos[string(d.Payload)]
		if !ok || seen[string(d.Payload)] {
			continue
		}
		seen[string(d.Payload)] = true
		if i != next {
			t.Fatalf("out of order: arrival %d is event %d (%s); want event %d", next, i, d.Payload, next)
		}
		next++
	}
}

func (r *sinkRun) concurrentSend(t *testing.T) {
	const workers, each = 8, 25
	s := r.connected(t)
	perWorker := make([][]*adapters.Event, workers)
	var all []*adapters.Event
	for w := range perWorker {
		for i := range each {
			e := r.event(t, w*each+i, fmt.Sprintf("worker-%d", w))
			perWorker[w] = append(perWorker[w], e)
			all = append(all, e)
		}
	}
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range perWorker {
		wg.Add(1)
		// Each worker exits after sending its events or at its first error.
		go func() {
			defer wg.Done()
			for _, e := range perWorker[w] {
				if err := s.Send(context.Background(), e); err != nil {
					errs <- fmt.Errorf("worker %d: Send %s: %w", w, e.Payload, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	got := r.waitDelivered(t, all)
	checkIDs(t, all, got)
	if r.h.Ordered {
		for _, evs := range perWorker {
			checkOrder(t, evs, got)
		}
	}
}

func (r *sinkRun) contextCancelled(t *testing.T) {
	s := r.connected(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.callWithin(t, "Send with a cancelled context", func() error {
		return s.Send(ctx, r.event(t, 0, "cancelled"))
	})
	if err == nil {
		t.Fatal("Send with a cancelled context returned nil; want an error")
	}
	if adapters.IsPermanent(err) {
		t.Fatalf("Send with a cancelled context returned a permanent error (the event would be dead-lettered at shutdown): %v", err)
	}
}

// callWithin runs f and returns its result, failing the test if f has not returned
// after the return bound. The goroutine exits when f returns; on timeout the test
// fails and the goroutine is left to finish on its own.
func (p patience) callWithin(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(p.ret):
		t.Fatalf("%s did not return within %s", what, p.ret)
		return nil
	}
}

func (r *sinkRun) permanentError(t *testing.T) {
	needHook(t, r.h.FailNext != nil, "SinkHarness.FailNext")
	s := r.connected(t)
	r.h.FailNext(t, 1, true)
	err := s.Send(context.Background(), r.event(t, 0, "perm"))
	if err == nil {
		t.Fatal("Send to a peer that rejects permanently returned nil")
	}
	if !adapters.IsPermanent(err) {
		t.Fatalf("Send to a peer that rejects permanently returned an error not marked Permanent: %v", err)
	}
	ok := r.event(t, 1, "perm")
	if err := s.Send(context.Background(), ok); err != nil {
		t.Fatalf("Send after a permanent failure: %v", err)
	}
	r.waitDelivered(t, []*adapters.Event{ok})
}

func (r *sinkRun) retryableError(t *testing.T) {
	needHook(t, r.h.FailNext != nil, "SinkHarness.FailNext")
	s := r.connected(t)
	r.h.FailNext(t, 1, false)
	e := r.event(t, 0, "retry")
	err := s.Send(context.Background(), e)
	if err == nil {
		t.Fatal("Send to a peer that fails temporarily returned nil")
	}
	if adapters.IsPermanent(err) {
		t.Fatalf("a temporary failure was marked Permanent: %v", err)
	}
	if err := r.retry(t, s, e); err != nil {
		t.Fatalf("retrying after a temporary failure: %v", err)
	}
	r.waitDelivered(t, []*adapters.Event{e})
}

// retry sends e the way the daemon does: on an error wrapping ErrNotConnected it
// calls Connect first; it gives up after the arrival bound or on a permanent error.
func (r *sinkRun) retry(t *testing.T, s adapters.Sink, e *adapters.Event) error {
	t.Helper()
	deadline := time.Now().Add(r.arrival)
	needConnect := false
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), r.ret)
		if needConnect {
			if last = s.Connect(ctx); last == nil {
				needConnect = false
			}
		}
		if !needConnect {
			last = s.Send(ctx, e)
			if last == nil {
				cancel()
				return nil
			}
			if adapters.IsPermanent(last) {
				cancel()
				return last
			}
			needConnect = errors.Is(last, adapters.ErrNotConnected)
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("still failing after %s: %w", r.arrival, last)
}

func (r *sinkRun) reconnectAfterRestart(t *testing.T) {
	needHook(t, r.h.Restart != nil, "SinkHarness.Restart")
	s := r.connected(t)
	before := r.event(t, 0, "restart")
	if err := s.Send(context.Background(), before); err != nil {
		t.Fatalf("Send before restart: %v", err)
	}
	r.waitDelivered(t, []*adapters.Event{before})
	r.h.Restart(t)
	after := r.event(t, 1, "restart")
	if err := r.retry(t, s, after); err != nil {
		t.Fatalf("Send after the peer restarted: %v", err)
	}
	r.waitDelivered(t, []*adapters.Event{before, after})
}

func (r *sinkRun) noSecretInErrors(t *testing.T) {
	needHook(t, r.h.Secret != "", "SinkHarness.Secret")
	s := r.connected(t) // every error through s is checked by guardedSink
	var errs []error
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errs = append(errs, r.callWithin(t, "Send with a cancelled context", func() error {
		return s.Send(ctx, r.event(t, 0, "secret"))
	}))
	if r.h.FailNext != nil {
		for i, permanent := range []bool{true, false} {
			if _, no := r.h.Unsupported["PermanentErrorIsMarked"]; no && permanent {
				continue
			}
			r.h.FailNext(t, 1, permanent)
			errs = append(errs, s.Send(context.Background(), r.event(t, i+1, "secret")))
		}
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a provoked failure returned nil")
		}
	}
}

// guardedSink forwards to a sink and fails the test if an error it returns contains
// the harness secret. closed records whether the case closed it; the suite's
// goroutines never touch it.
type guardedSink struct {
	t      *testing.T
	s      adapters.Sink
	secret string
	closed bool
}

func (g *guardedSink) check(op string, err error) error {
	g.t.Helper()
	if err != nil && g.secret != "" {
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
			if strings.Contains(text, g.secret) {
				g.t.Errorf("%s returned an error that reveals the secret: %s", op, strings.ReplaceAll(text, g.secret, "<SECRET>"))
				break
			}
		}
	}
	return err
}

func (g *guardedSink) Connect(ctx context.Context) error {
	return g.check("Connect", g.s.Connect(ctx))
}

func (g *guardedSink) Send(ctx context.Context, e *adapters.Event) error {
	return g.check("Send", g.s.Send(ctx, e))
}

func (g *guardedSink) Close(ctx context.Context) error {
	g.closed = true
	return g.check("Close", g.s.Close(ctx))
}

// nonce returns a random tag that keeps one suite run's payloads apart from any
// other traffic the peer sees.
func nonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
