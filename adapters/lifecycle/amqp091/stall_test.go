package amqp091

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// stallProxy forwards to the broker until Stall: from then on it neither reads nor
// writes, as a broker behind a dead link or one that blocked the connection (its
// TCP window closes). It stops with the test.
type stallProxy struct {
	addr    string
	stalled chan struct{}
	once    sync.Once
}

func newStallProxy(t *testing.T) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &stallProxy{addr: ln.Addr().String(), stalled: make(chan struct{})}
	done := make(chan struct{})
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			select {
			case <-s.stalled: // hold what was read, read no more
				<-done
				return
			default:
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = dst.Close()
				return
			}
		}
	}
	wg.Add(1)
	// Ends when the listener closes; the pipes end at cleanup.
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", rabbitAddr)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			wg.Add(2)
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return s
}

func (s *stallProxy) Stall() { s.once.Do(func() { close(s.stalled) }) }

// The broker stops answering after the publish: the confirm never comes, and
// Publish returns when its context ends. Close does not hang either.
func TestConfirmNeverComes(t *testing.T) {
	needRabbit(t)
	px := newStallProxy(t)
	p := publisherAt(t, "amqp://guest:guest@"+px.addr+"/?heartbeat=0")
	require.NoError(t, p.Connect(ctx30(t)))
	px.Stall()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := p.Publish(ctx, lifecycletest.Message("edge.node.started", "s-1", "c"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	t.Log(err)
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Close on a stalled connection did not return")
	}
}

// A write the broker does not take (its TCP window closed, as under flow control)
// ends with the context: Publish returns, and the next Connect works.
func TestBlockedWriteEndsWithContext(t *testing.T) {
	needRabbit(t)
	px := newStallProxy(t)
	p := publisherAt(t, "amqp://guest:guest@"+px.addr+"/?heartbeat=0")
	require.NoError(t, p.Connect(ctx30(t)))
	px.Stall()
	m := lifecycletest.Message("edge.node.started", "b-1", "c")
	m.Body = make([]byte, 64<<20) // more than the socket buffers hold
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Publish(ctx, m) }()
	// Give the write time to fill the socket buffers and block (if the context
	// ended first, Publish would return before writing, and the error would not say
	// "publish").
	stop := time.AfterFunc(300*time.Millisecond, cancel)
	defer stop.Stop()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.Contains(t, err.Error(), "publish edge.node.started")
		t.Log(err)
	case <-time.After(20 * time.Second):
		t.Fatal("a blocked Publish did not return when its context ended")
	}
	p2 := publisherAt(t, guestURL)
	require.NoError(t, p2.Connect(ctx30(t)))
}

// Connect again replaces the old connection, closing it.
func TestConnectReplaces(t *testing.T) {
	needRabbit(t)
	p := publisherAt(t, guestURL)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	old := p.conn
	require.NoError(t, p.Connect(ctx))
	require.True(t, old.IsClosed())
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "rc-1", "c")))
}

// The AMQP timestamp comes from the daemon's clock.
func TestTimestampFromClock(t *testing.T) {
	needRabbit(t)
	at := time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)
	c := NewConfig()
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(map[string]string{VarURL: guestURL})))
	pub, err := c.Build(lifecycle.Deps{Log: slog.New(slog.DiscardHandler), Clock: clocktest.NewFake(at)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })

	ch := admin(t)
	require.NoError(t, ch.ExchangeDeclare(Exchange, amqp.ExchangeTopic, true, false, false, false, nil))
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	require.NoError(t, err)
	key := "edge.test.ts." + strconv.FormatInt(time.Now().UnixNano(), 36)
	require.NoError(t, ch.QueueBind(q.Name, key, Exchange, false, nil))
	ctx := ctx30(t)
	require.NoError(t, pub.Connect(ctx))
	require.NoError(t, pub.Publish(ctx, lifecycletest.Message(key, "ts-1", "c")))
	var d amqp.Delivery
	for i := 0; i < 100; i++ {
		var ok bool
		d, ok, err = ch.Get(q.Name, true)
		require.NoError(t, err)
		if ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, "ts-1", d.MessageId)
	require.True(t, at.Equal(d.Timestamp), "timestamp %v", d.Timestamp)
}

// vhost creates a vhost of its own for the test with rabbitmqctl (guest may use
// it) and returns its URL; it is deleted after the test.
func vhost(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		adaptertest.Missing(t, "needs rabbitmqctl to create a vhost of the test's own")
	}
	name := "edgerelay-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	run := func(args ...string) error {
		out, err := exec.Command("rabbitmqctl", append([]string{"-q"}, args...)...).CombinedOutput()
		if err != nil {
			t.Logf("rabbitmqctl %v: %v: %s", args, err, out)
		}
		return err
	}
	if run("add_vhost", name) != nil {
		adaptertest.Missing(t, "needs rabbitmqctl to work (root or the Erlang cookie) to create a vhost")
	}
	t.Cleanup(func() { _ = run("delete_vhost", name) })
	require.NoError(t, run("set_permissions", "-p", name, "guest", ".*", ".*", ".*"))
	return "amqp://guest:guest@" + rabbitAddr + "/" + name
}

// In a vhost of its own, the exchange is missing for sure: Connect declares it
// durable and topic.
func TestExchangeCreatedInNewVhost(t *testing.T) {
	needRabbit(t)
	url := vhost(t)
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.Error(t, ch.ExchangeDeclarePassive(Exchange, amqp.ExchangeTopic, true, false, false, false, nil), "no exchange before Connect")

	p := publisherAt(t, url)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	ch, err = conn.Channel()
	require.NoError(t, err)
	// The same settings declare without error; other ones would close the channel
	// with 406 PRECONDITION_FAILED.
	require.NoError(t, ch.ExchangeDeclare(Exchange, amqp.ExchangeTopic, true, false, false, false, nil))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "v-1", "c")))
}

// An existing exchange with other settings (here a non-durable fanout) is used as
// it is: the passive check passes, nothing is redeclared, messages flow.
func TestExchangeOtherSettingsUsedAsIs(t *testing.T) {
	needRabbit(t)
	url := vhost(t)
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.ExchangeDeclare(Exchange, amqp.ExchangeFanout, false, false, false, false, nil))
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(q.Name, "", Exchange, false, nil))

	p := publisherAt(t, url)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "f-1", "c")))
	// Still a fanout: a declaration as fanout, non-durable, passes.
	require.NoError(t, ch.ExchangeDeclare(Exchange, amqp.ExchangeFanout, false, false, false, false, nil))
	var d amqp.Delivery
	for i := 0; i < 100; i++ {
		var ok bool
		d, ok, err = ch.Get(q.Name, true)
		require.NoError(t, err)
		if ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, "f-1", d.MessageId)
	require.Equal(t, "edge.node.started", d.RoutingKey)
}
