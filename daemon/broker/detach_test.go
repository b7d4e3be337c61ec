package broker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSuccessorAttachedBeforeDetach: a reload swapping an in-process source creates
// the successor's attachment before it detaches the old one. A QoS 1 message
// published while the old one is stopped and detached and the successor does not
// run yet is held (not acknowledged as a message not for the relay) and goes to the
// successor once it runs; only then does the publisher get its PUBACK.
func TestSuccessorAttachedBeforeDetach(t *testing.T) {
	b, rec := startBroker(t, nil)
	oldPub := make(holdPublisher, 10)
	old := b.Source("plant", []string{"relay/#"}, "", "")
	stopOld := run(t, old, oldPub)
	waitRunning(t, b)

	next := b.Source("site", []string{"relay/#"}, "", "") // attached, not running
	require.NoError(t, stopOld())
	b.Detach(old)

	c := client(t, b, "device-1", nil)
	tok := c.Publish("relay/x", 1, false, `{"id":"A-1"}`)
	require.Eventually(t, func() bool { p, _ := rec.get("device-1"); return len(p) == 1 },
		10*time.Second, time.Millisecond, "the broker read the message")
	rec.mark("successor runs")
	pub := make(holdPublisher, 10)
	run(t, next, pub)
	h := pub.next(t)
	require.Equal(t, "site", h.e.Source)
	h.done(nil)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	require.Zero(t, rec.acksBefore("device-1", "successor runs"), "nothing acknowledged before the successor ran")
	require.Empty(t, oldPub, "the stopped source got nothing")
}
