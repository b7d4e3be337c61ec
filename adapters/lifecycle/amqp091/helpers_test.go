package amqp091

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// The machine's RabbitMQ.
const (
	rabbitAddr = "127.0.0.1:5672"
	guestURL   = "amqp://guest:guest@" + rabbitAddr + "/"
)

func needRabbit(t *testing.T) {
	t.Helper()
	adaptertest.NeedService(t, "RabbitMQ", rabbitAddr)
}

// build makes a publisher from a config the way the daemon does.
func build(t *testing.T, env map[string]string) *Publisher {
	t.Helper()
	c := NewConfig()
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(env)))
	p, err := c.Build(lifecycle.Deps{
		Log: slog.New(slog.DiscardHandler), Clock: clock.Or(nil), Version: "test",
		Env: lifecycle.MapEnv(env),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p.(*Publisher)
}

func publisherAt(t *testing.T, url string) *Publisher {
	t.Helper()
	return build(t, map[string]string{VarURL: url})
}

// admin is a plain client of the broker, for the test's own declarations.
func admin(t *testing.T) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(guestURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return ch
}

// subscribe binds an exclusive auto-delete queue to edge.events with key (declaring
// the exchange, as a subscriber would) and returns what arrives. It stops with the
// test.
func subscribe(t *testing.T, key string) <-chan lifecycletest.Received {
	t.Helper()
	conn, err := amqp.Dial(guestURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.ExchangeDeclare(Exchange, amqp.ExchangeTopic, true, false, false, false, nil))
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(q.Name, key, Exchange, false, nil))
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	require.NoError(t, err)
	out := make(chan lifecycletest.Received, 100)
	// Ends when the connection closes (test cleanup): deliveries is closed.
	go func() {
		defer close(out)
		for d := range deliveries {
			attrs := map[string]string{
				"content-type":  d.ContentType,
				"message-id":    d.MessageId,
				"delivery-mode": strconv.Itoa(int(d.DeliveryMode)),
				"app-id":        d.AppId,
			}
			for k, v := range d.Headers {
				attrs[k] = fmt.Sprint(v)
			}
			out <- lifecycletest.Received{Where: d.RoutingKey, Body: d.Body, Attrs: attrs}
		}
	}()
	return out
}

// receive waits for one message.
func receive(t *testing.T, ch <-chan lifecycletest.Received) lifecycletest.Received {
	t.Helper()
	select {
	case r, ok := <-ch:
		require.True(t, ok, "subscriber ended")
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no message arrived")
	}
	return lifecycletest.Received{}
}

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// silentListener accepts connections and never answers; it stops with the test.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	// Ends when the listener closes.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

func bytesReader(s string) *strings.Reader { return strings.NewReader(s) }
