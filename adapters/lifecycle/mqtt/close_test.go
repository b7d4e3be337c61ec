package mqtt

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// stallingBroker answers CONNACK, reads 1 MiB more, reports that on got, then
// reads nothing until the test ends.
func stallingBroker(t *testing.T) (addr string, got <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := make(chan struct{})
	release := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(release); _ = ln.Close(); <-done })
	go func() { // ends at the test's end
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, _, err := readPacket(br); err != nil {
			return
		}
		_, _ = c.Write([]byte{pktCONNACK << 4, 2, 0, 0})
		if _, err := io.CopyN(io.Discard, br, 1<<20); err == nil {
			close(g)
		}
		<-release
	}()
	return ln.Addr().String(), g
}

// TestCloseDoesNotWaitForAStuckWrite is the reviewer's finding: the DISCONNECT of
// Close waited for a publish's write stuck on a broker that reads nothing (up to
// the timeout) and then had the whole timeout again. Close now cuts the
// connection after DisconnectTimeout: the stuck write fails on the closed
// connection, not on its own deadline (a minute here).
func TestCloseDoesNotWaitForAStuckWrite(t *testing.T) {
	addr, got := stallingBroker(t)
	p := build(t, map[string]string{EnvURL: addr, EnvQoS: "0"}, func(c *Config) { c.Timeout = time.Minute })
	require.NoError(t, p.Connect(t.Context()))
	m := lifecycletest.Message("edge.node.started", "id-big", "c")
	m.Body = make([]byte, 64<<20) // far more than the socket buffers hold
	errc := make(chan error, 1)
	go func() { errc <- p.Publish(context.Background(), m) }()
	<-got // the write is under way, and stuck
	require.NoError(t, p.Close())
	err := <-errc
	require.Error(t, err)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.NotContains(t, err.Error(), "i/o timeout")
	require.ErrorIs(t, err, ErrNotConnected)
}
