package serving

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

func TestSlotHoldsThePublisherDuringRun(t *testing.T) {
	var s Slot
	h := &adaptertest.HealthLog{}
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
	require.Equal(t, []string{"serving: not started", "serving: ok", "serving: stopped"}, h.Entries())
}
