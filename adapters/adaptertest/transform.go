package adaptertest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
)

// TransformHarness connects RunTransform to one transform.
type TransformHarness struct {
	// New returns the transform under test.
	New func(t *testing.T) adapters.Transform
	// Inputs are events to feed it: some it converts, some it skips, some it refuses.
	// At least one must be converted.
	Inputs []*adapters.Event
}

// RunTransform runs the transform conformance cases as subtests of t:
//
//   - KeepsIdentity: a converted event keeps the input's ID, Source, Topic and
//     Received, so dead letters, logs and the queue CLI can follow it;
//   - DoesNotModifyInput: the input event is left exactly as it was (the daemon hands
//     the same event to several routes);
//   - Deterministic: the same input gives the same output or the same error class;
//   - Concurrent: many goroutines transforming at once agree with a single one (run
//     the suite with -race).
func RunTransform(t *testing.T, h TransformHarness) {
	t.Helper()
	if h.New == nil || len(h.Inputs) == 0 {
		t.Fatal("adaptertest: TransformHarness needs New and Inputs")
	}
	for _, in := range h.Inputs {
		if in.Received.IsZero() {
			in.Received = time.Unix(1700000000, 0)
		}
		if in.ID == "" {
			in.ID = adapters.NewID()
		}
		if in.Source == "" {
			in.Source = "conformance"
		}
	}
	t.Run("KeepsIdentity", func(t *testing.T) {
		tr := h.New(t)
		converted := 0
		for _, in := range h.Inputs {
			out, err := tr.Transform(in)
			if err != nil || out == nil {
				continue
			}
			converted++
			if out.ID != in.ID || out.Source != in.Source || out.Topic != in.Topic || !out.Received.Equal(in.Received) {
				t.Errorf("input %s on %q: output lost its identity: id %q source %q topic %q received %v",
					in.ID, in.Topic, out.ID, out.Source, out.Topic, out.Received)
			}
		}
		if converted == 0 {
			t.Error("no input was converted: give RunTransform at least one convertible event")
		}
	})
	t.Run("DoesNotModifyInput", func(t *testing.T) {
		tr := h.New(t)
		for _, in := range h.Inputs {
			before := clone(in)
			_, _ = tr.Transform(in)
			if !reflect.DeepEqual(before, in) {
				t.Errorf("input %s on %q was modified", in.ID, in.Topic)
			}
		}
	})
	want := func(tr adapters.Transform, in *adapters.Event) string {
		out, err := tr.Transform(in)
		switch {
		case adapters.IsSkip(err):
			return "skip"
		case err != nil:
			return "error"
		case out == nil:
			return "nil"
		}
		return fmt.Sprintf("%s|%s|%s|%v", out.Kind, out.Key, out.Payload, out.Attrs)
	}
	t.Run("Deterministic", func(t *testing.T) {
		tr := h.New(t)
		for _, in := range h.Inputs {
			if a, b := want(tr, in), want(tr, in); a != b {
				t.Errorf("input %s on %q: %s, then %s", in.ID, in.Topic, a, b)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		tr := h.New(t)
		expect := make([]string, len(h.Inputs))
		for i, in := range h.Inputs {
			expect[i] = want(tr, in)
		}
		var wg sync.WaitGroup
		errs := make(chan string, 8*len(h.Inputs))
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, in := range h.Inputs {
					if got := want(tr, in); got != expect[i] {
						errs <- fmt.Sprintf("input %s: %s concurrently, %s alone", in.ID, got, expect[i])
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
}

func clone(e *adapters.Event) *adapters.Event {
	c := *e
	c.Payload = append([]byte(nil), e.Payload...)
	if e.Payload == nil {
		c.Payload = nil
	}
	if e.Attrs != nil {
		c.Attrs = make(map[string]string, len(e.Attrs))
		for k, v := range e.Attrs {
			c.Attrs[k] = v
		}
	}
	return &c
}
