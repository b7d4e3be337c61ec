package serving

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// health records every Set.
type health struct {
	adapters.NopHealth
	mu   sync.Mutex
	sets []string
}

func (h *health) Set(c string, ok bool, d string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok {
		d = "ok"
	}
	h.sets = append(h.sets, c+": "+d)
}

func (h *health) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.sets...)
}

func TestSlotHoldsThePublisherDuringRun(t *testing.T) {
	var s Slot
	h := &health{}
	NotStarted(h)
	require.Nil(t, s.Publisher())
	pub := adaptertest.NewRecorder()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, pub, h) }()
	require.Eventually(t, func() bool { return s.Publisher() != nil }, 5*time.Second, time.Millisecond)
	require.Same(t, pub, s.Publisher())
	cancel()
	require.NoError(t, <-done)
	require.Nil(t, s.Publisher())
	require.Equal(t, []string{"serving: not started", "serving: ok", "serving: stopped"}, h.got())
}
