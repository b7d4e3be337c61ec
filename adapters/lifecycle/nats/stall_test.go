package nats

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
