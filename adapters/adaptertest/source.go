package adaptertest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
)

// SourceHarness connects RunSource to one source type and a real upstream (an
// in-process broker, an HTTP client, a test API server).
type SourceHarness struct {
	// New returns a fresh source reading from the test upstream. It must not connect:
	// the suite calls Run.
	New func(t *testing.T) adapters.Source
	// Inject sends one message upstream so that a running source receives it. The
	// suite calls it from the test goroutine only, and only while Run is running; it
	// warms up first (injecting probes until one arrives), so an upstream that drops
	// messages sent before the source subscribed is fine. The source may wrap the
	// payload but must carry it whole in Event.Payload.
	Inject func(t *testing.T, payload []byte)
	// Redelivers says the upstream redelivers what the source did not acknowledge (an
	// MQTT persistent session, a Kafka group). AckOnlyAfterDone needs it: without
	// it that case is skipped on a developer machine and fails under CI, unless
	// Unsupported says why the upstream cannot redeliver.
	Redelivers bool
	// Unsupported names the cases the adapter cannot support, each with the reason;
	// see SinkHarness.Unsupported.
	Unsupported map[string]string
	// Wait bounds every wait for a message or for Run to return; a case fails when it
	// runs out. Zero means 15s for messages and 10s for returns.
	Wait time.Duration
}

// RunSource runs the source conformance cases as subtests of t:
//
//   - RunReturnsOnCancel: Run returns nil after its context is cancelled (it fails
//     only after the Wait bound, never on wall time);
//   - PublishesInjected: 20 injected payloads all reach the Publisher, each event
//     with an ID;
//   - AckOnlyAfterDone (needs Redelivers): with a Publisher that fails done for the
//     first delivery of every message, every message still ends accepted, so the
//     source left the failed deliveries unacknowledged;
//   - ConcurrentDone: done is called later, from timer goroutines and out of order;
//     every message is still accepted and Run still returns nil on cancel.
//
// Like the daemon, the suite calls Run again (after 100ms) when it returns an error
// before its context ends, except in RunReturnsOnCancel.
func RunSource(t *testing.T, h SourceHarness) {
	t.Helper()
	if h.New == nil || h.Inject == nil {
		t.Fatal("adaptertest: SourceHarness needs New and Inject")
	}
	r := &sourceRun{h: h, nonce: nonce(), patience: newPatience(h.Wait)}
	runCases(t, "SourceHarness", h.Unsupported, []suiteCase{
		{"RunReturnsOnCancel", r.runReturnsOnCancel},
		{"PublishesInjected", r.publishesInjected},
		{"AckOnlyAfterDone", r.ackOnlyAfterDone},
		{"ConcurrentDone", r.concurrentDone},
	})
}

type sourceRun struct {
	patience
	h     SourceHarness
	nonce string
}

func (r *sourceRun) tag(t *testing.T) string { return caseTag(r.nonce, t) }

// payload returns the i-th payload of the current case and the marker that finds it.
func (r *sourceRun) payload(t *testing.T, i int) (payload, marker []byte) {
	marker = fmt.Appendf(nil, `%s%d"`, r.tag(t), i)
	return fmt.Appendf(nil, `{"conformance":"%s","seq":%d}`, marker[:len(marker)-1], i), marker
}

// supervised is a source run by a loop like the daemon's supervisor.
type supervised struct {
	patience
	cancel context.CancelFunc
	exited chan error // receives the last Run result when the loop exits
	early  chan error // receives Run's error if it returns before cancel (restart=false)
}

// start runs src under a loop that calls Run again after an error when restart is
// set. The loop goroutine exits when its context is cancelled (by stop or cleanup) or,
// without restart, when Run returns.
func (r *sourceRun) start(t *testing.T, src adapters.Source, pub adapters.Publisher, restart bool) *supervised {
	ctx, cancel := context.WithCancel(context.Background())
	s := &supervised{patience: r.patience, cancel: cancel, exited: make(chan error, 1), early: make(chan error, 1)}
	go func() {
		for {
			err := src.Run(ctx, pub)
			if ctx.Err() != nil {
				s.exited <- err
				return
			}
			if !restart {
				s.early <- fmt.Errorf("Run returned before its context was cancelled: %v", err)
				s.exited <- err
				return
			}
			t.Logf("Run returned %v; running it again in 100ms, as the daemon would", err)
			select {
			case <-ctx.Done():
				s.exited <- nil
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			select {
			case <-s.exited:
			case <-time.After(r.ret):
			}
		}
	})
	s.cancel = func() { stopped = true; cancel() }
	return s
}

// stop cancels the run and requires the last Run to return nil within the return bound.
func (s *supervised) stop(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.early:
		t.Fatal(err)
	default:
	}
	s.cancel()
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("Run returned %v after its context was cancelled; want nil", err)
		}
	case <-time.After(s.ret):
		t.Fatalf("Run did not return within %s of its context being cancelled", s.ret)
	}
}

// warmUp injects probes until one reaches rec, so that the source is known to be
// receiving before the case's real messages go upstream.
func (r *sourceRun) warmUp(t *testing.T, rec *Recorder, s *supervised) {
	t.Helper()
	probe := []byte(r.tag(t) + "probe")
	deadline := time.Now().Add(r.arrival)
	for i := 0; ; i++ {
		select {
		case err := <-s.early:
			t.Fatal(err)
		default:
		}
		r.h.Inject(t, fmt.Appendf(nil, `{"conformance":"%s-%d"}`, probe, i))
		wait := time.Now().Add(250 * time.Millisecond)
		for time.Now().Before(wait) {
			for _, e := range rec.Published() {
				if bytes.Contains(e.Payload, probe) {
					return
				}
			}
			time.Sleep(pollInterval)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no injected probe reached the Publisher within %s", r.arrival)
		}
	}
}

// injectAndWait injects n payloads and waits until each has been accepted at least
// once. It returns the markers.
func (r *sourceRun) injectAndWait(t *testing.T, rec *Recorder, n int) [][]byte {
	t.Helper()
	markers := make([][]byte, n)
	for i := range markers {
		var p []byte
		p, markers[i] = r.payload(t, i)
		r.h.Inject(t, p)
	}
	rec.WaitFor(t, r.arrival, fmt.Sprintf("waiting for %d injected messages to be accepted", n), func(acc []*adapters.Event) bool {
		return len(missing(markers, acc)) == 0
	})
	return markers
}

// missing returns the markers no event in evs carries.
func missing(markers [][]byte, evs []*adapters.Event) [][]byte {
	var out [][]byte
	for _, m := range markers {
		found := false
		for _, e := range evs {
			if bytes.Contains(e.Payload, m) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, m)
		}
	}
	return out
}

func (r *sourceRun) runReturnsOnCancel(t *testing.T) {
	rec := NewRecorder()
	s := r.start(t, r.h.New(t), rec, false)
	r.warmUp(t, rec, s)
	s.stop(t)
}

func (r *sourceRun) publishesInjected(t *testing.T) {
	rec := NewRecorder()
	s := r.start(t, r.h.New(t), rec, true)
	r.warmUp(t, rec, s)
	r.injectAndWait(t, rec, 20)
	for _, e := range rec.Published() {
		if e.ID == "" {
			t.Errorf("event with payload %s has no ID", e.Payload)
		}
	}
	s.stop(t)
}

func (r *sourceRun) ackOnlyAfterDone(t *testing.T) {
	needHook(t, r.h.Redelivers, "SourceHarness.Redelivers")
	rec := NewRecorder(RejectFirstDelivery())
	s := r.start(t, r.h.New(t), rec, true)
	r.warmUp(t, rec, s)
	markers := r.injectAndWait(t, rec, 5)
	if m := missing(markers, rec.Rejected()); len(m) > 0 {
		t.Fatalf("messages %q were accepted without a first rejected delivery", m)
	}
	s.stop(t)
}

func (r *sourceRun) concurrentDone(t *testing.T) {
	const n = 30
	// Later events finish sooner: done runs on timer goroutines, out of order.
	rec := NewRecorder(DelayDone(func(_ *adapters.Event, seq int) time.Duration {
		return time.Duration(n-seq%n) * 2 * time.Millisecond
	}))
	s := r.start(t, r.h.New(t), rec, true)
	r.warmUp(t, rec, s)
	r.injectAndWait(t, rec, n)
	s.stop(t)
	rec.Wait()
}
