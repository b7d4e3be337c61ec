package adaptertest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// The suites are only worth something if they fail broken adapters. These tests run
// them against deliberately broken ones in a child process and check which cases fail.

const brokenEnv = "ADAPTERTEST_RUN_BROKEN"

// brokenSink loses every tenth event, ignores its context, never marks an error
// permanent and puts its secret in every error.
type brokenSink struct {
	p  *memPeer
	n  int
	mu sync.Mutex // guards n
}

func (s *brokenSink) Connect(context.Context) error { return nil }
func (s *brokenSink) Close(context.Context) error   { return nil }

func (s *brokenSink) Send(_ context.Context, e *adapters.Event) error {
	s.mu.Lock()
	s.n++
	drop := s.n%10 == 0
	s.mu.Unlock()
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.failN > 0 {
		s.p.failN--
		return errors.New("peer said no to token hunter2")
	}
	if !drop {
		s.p.got = append(s.p.got, adaptertest.Delivery{ID: e.ID, Payload: e.Payload})
	}
	return nil
}

func TestBrokenSinkChild(t *testing.T) {
	if os.Getenv(brokenEnv) != "sink" {
		t.Skip("runs only as the child of TestSuiteFailsBrokenSink")
	}
	p := &memPeer{}
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink { return &brokenSink{p: p} },
		Received: func(t *testing.T) []adaptertest.Delivery {
			p.mu.Lock()
			defer p.mu.Unlock()
			return append([]adaptertest.Delivery(nil), p.got...)
		},
		FailNext: func(t *testing.T, n int, permanent bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.failN = n
		},
		Secret: "hunter2",
		Wait:   time.Second,
	})
}

// brokenSource ignores done's result (acknowledging everything at once) and its Run
// outlives its context.
type brokenSource struct{ u *memUpstream }

func (s *brokenSource) Run(ctx context.Context, pub adapters.Publisher) error {
	for {
		p, ok := s.u.take()
		if !ok {
			time.Sleep(10 * time.Millisecond)
			if ctx.Err() != nil {
				time.Sleep(time.Hour) // does not return on cancel
			}
			continue
		}
		_ = pub.Publish(context.Background(), &adapters.Event{ID: adapters.NewID(), Payload: p}, func(adapters.Settlement) {})
	}
}

func TestBrokenSourceChild(t *testing.T) {
	if os.Getenv(brokenEnv) != "source" {
		t.Skip("runs only as the child of TestSuiteFailsBrokenSource")
	}
	u := newMemUpstream()
	adaptertest.RunSource(t, adaptertest.SourceHarness{
		New:        func(t *testing.T) adapters.Source { return &brokenSource{u: u} },
		Inject:     func(t *testing.T, payload []byte) { u.put(payload) },
		Redelivers: true,
		Wait:       time.Second,
	})
}

func runChild(t *testing.T, test, mode string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the suite in a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), brokenEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the suite must fail a broken adapter:\n%s", out)
	return string(out)
}

func TestSuiteFailsBrokenSink(t *testing.T) {
	out := runChild(t, "TestBrokenSinkChild", "sink")
	for _, c := range []string{"SendMany", "ConcurrentSend", "ContextCancelledSendReturns", "PermanentErrorIsMarked", "NoSecretInErrors"} {
		require.Contains(t, out, "--- FAIL: TestBrokenSinkChild/"+c+" ", "case %s fails:\n%s", c, out)
	}
	require.Contains(t, out, "--- PASS: TestBrokenSinkChild/ConnectClose ")
	require.True(t, strings.Contains(out, "reveals the secret"), out)
}

func TestSuiteFailsBrokenSource(t *testing.T) {
	out := runChild(t, "TestBrokenSourceChild", "source")
	for _, c := range []string{"RunReturnsOnCancel", "AckOnlyAfterDone"} {
		require.Contains(t, out, "--- FAIL: TestBrokenSourceChild/"+c+" ", "case %s fails:\n%s", c, out)
	}
}
