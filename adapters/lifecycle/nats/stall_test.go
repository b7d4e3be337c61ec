package nats

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// stallServer is a NATS server that stops answering: it greets, answers the
// handshake's PING when pong is set, and then reads without answering. seen gets
// each protocol line after the handshake.
func stallServer(t *testing.T, greet, pong bool) (url string, seen <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lines := make(chan string, 100)
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	// It stops when the listener closes: the connection is closed with it.
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		go func() { <-t.Context().Done(); _ = c.Close() }()
		if greet {
			_, _ = c.Write([]byte(`INFO {"server_id":"stall","version":"2.15.2","proto":1,"headers":true,"max_payload":1048576}` + "\r\n"))
		}
		r := bufio.NewReader(c)
		ponged := false
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(l, "PING") && pong && !ponged {
				ponged = true
				_, _ = c.Write([]byte("PONG\r\n"))
				continue
			}
			if ponged {
				select {
				case lines <- strings.TrimSpace(l):
				default:
				}
			}
		}
	}()
	return "nats://" + ln.Addr().String(), lines
}

// TestPublishReturnsWhenContextEnds: a server that takes the message and never
// answers the PING (or the JetStream request) holds Publish only until its context
// ends.
func TestPublishReturnsWhenContextEnds(t *testing.T) {
	url, seen := stallServer(t, true, true)
	p := newPublisher(t, &Config{URLs: []string{url}})
	require.NoError(t, p.Connect(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Publish(ctx, lifecycletest.Message("edge.node.started", "id-1", "c")) }()
	for l := range seen { // the PING after the message: Publish now waits for the PONG
		if strings.HasPrefix(l, "PING") {
			break
		}
	}
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(20 * time.Second):
		t.Fatal("Publish did not return when its context ended")
	}
	require.NoError(t, p.Close())
}

// TestConnectReturnsWhenContextEnds: a server that accepts the connection and
// never greets holds Connect only until its context ends.
func TestConnectReturnsWhenContextEnds(t *testing.T) {
	url, _ := stallServer(t, false, false)
	p := newPublisher(t, &Config{URLs: []string{url}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Connect(ctx) }()
	time.Sleep(50 * time.Millisecond) // let it dial; the outcome does not depend on it
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(20 * time.Second):
		t.Fatal("Connect did not return when its context ended")
	}
}

// deafServer is a NATS server that completes the handshake and then never reads
// again, with a small receive buffer: the client's writes block once the socket
// buffers are full. It stops when the test ends.
func deafServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		_, _ = c.Write([]byte(`INFO {"server_id":"deaf","version":"2.15.2","proto":1,"headers":true,"max_payload":67108864}` + "\r\n"))
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(l, "PING") {
				_, _ = c.Write([]byte("PONG\r\n"))
				break
			}
		}
		<-t.Context().Done() // deaf from here on
	}()
	return "nats://" + ln.Addr().String()
}

// bigBatch is 128 messages of 100 KiB: more than the socket buffers hold.
func bigBatch() []lifecycle.Message {
	body := []byte(strings.Repeat("x", 100<<10))
	ms := make([]lifecycle.Message, 128)
	for i := range ms {
		ms[i] = lifecycletest.Message("edge.alert.relayed", fmt.Sprint("id-", i), "c")
		ms[i].Body = body
	}
	return ms
}

// returns waits for done, failing the test when it does not come within a
// generous bound (nats.go's own write timeout is a minute).
func returns[T any](t *testing.T, done <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-done:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return", what)
		panic("unreachable")
	}
}

// TestStalledServerPublishBatch: a server that stops reading holds PublishBatch
// only until its context ends (not nats.go's one-minute write timeout); the
// connection is then dropped, and Close does not wait either.
func TestStalledServerPublishBatch(t *testing.T) {
	p := newPublisher(t, &Config{URLs: []string{deafServer(t)}})
	require.NoError(t, p.Connect(t.Context()))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.PublishBatch(ctx, bigBatch()) }()
	err := returns(t, done, "PublishBatch")
	require.Error(t, err)
	require.ErrorIs(t, err, ErrNotConnected)
	require.ErrorIs(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-x", "c")), ErrNotConnected)
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	require.NoError(t, returns(t, closed, "Close"))
}

// TestStalledServerPublish: the same for one large Publish.
func TestStalledServerPublish(t *testing.T) {
	p := newPublisher(t, &Config{URLs: []string{deafServer(t)}})
	require.NoError(t, p.Connect(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	m := lifecycletest.Message("edge.alert.relayed", "id-1", "c")
	m.Body = []byte(strings.Repeat("x", 16<<20))
	go func() { done <- p.Publish(ctx, m) }()
	time.Sleep(100 * time.Millisecond) // let it block; the outcome does not depend on it
	cancel()
	require.ErrorIs(t, returns(t, done, "Publish"), context.Canceled)
}

// TestStalledServerClose: Close during a PublishBatch blocked on a server that
// stopped reading returns, and so does the PublishBatch.
func TestStalledServerClose(t *testing.T) {
	p := newPublisher(t, &Config{URLs: []string{deafServer(t)}})
	require.NoError(t, p.Connect(t.Context()))
	done := make(chan error, 1)
	go func() { done <- p.PublishBatch(t.Context(), bigBatch()) }()
	time.Sleep(200 * time.Millisecond) // let it block; the outcome does not depend on it
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	require.NoError(t, returns(t, closed, "Close"))
	require.Error(t, returns(t, done, "PublishBatch"))
}
