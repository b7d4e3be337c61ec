package amqp091

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

func TestConformance(t *testing.T) {
	needRabbit(t)
	lifecycletest.Run(t, lifecycletest.Harness{
		New:       func(t *testing.T) lifecycle.Publisher { return publisherAt(t, guestURL) },
		Subscribe: func(t *testing.T) <-chan lifecycletest.Received { return subscribe(t, "#") },
		Where:     func(m lifecycle.Message) string { return m.Type },
		Promoted: func(m lifecycle.Message) map[string]string {
			return map[string]string{
				"type": m.Type, "corename": m.CoreName,
				"content-type":  lifecycle.ContentType,
				"message-id":    m.ID,
				"delivery-mode": strconv.Itoa(int(amqp.Persistent)),
			}
		},
		Unreachable: func(t *testing.T) lifecycle.Publisher {
			return publisherAt(t, "amqp://guest:guest@"+lifecycletest.FreeAddr(t)+"/")
		},
	})
}

// The subscriber a user would run sees routing key, headers and properties.
func TestRoutingKeyFilter(t *testing.T) {
	needRabbit(t)
	ch := subscribe(t, "edge.command_execution.*")
	p := publisherAt(t, guestURL)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "rk-1", "site-a")))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.command_execution.failed", "rk-2", "site-a")))
	r := receive(t, ch)
	require.Equal(t, "edge.command_execution.failed", r.Where, "only the bound key arrives")
	require.Equal(t, "rk-2", r.Attrs["message-id"])
	require.Equal(t, "edgerelay", r.Attrs["app-id"])
}

// No queue bound to a routing key: the broker still confirms (publish-and-forget,
// mandatory off).
func TestUnroutableIsConfirmed(t *testing.T) {
	needRabbit(t)
	p := publisherAt(t, guestURL)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.test.nobody-listens."+strconv.FormatInt(time.Now().UnixNano(), 36), "u-1", "c")))
}

// A missing exchange is declared durable and topic.
func TestExchangeMissingIsCreated(t *testing.T) {
	needRabbit(t)
	ch := admin(t)
	if err := ch.ExchangeDelete(Exchange, true, false); err != nil {
		// 406 PRECONDITION_FAILED: bound queues of another test or subscriber.
		t.Logf("edge.events is in use (%v): not deleted, so this checks the existing-exchange path only", err)
		ch = admin(t)
	} else {
		err := ch.ExchangeDeclarePassive(Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Code != amqp.NotFound {
			t.Logf("edge.events came back before the publisher connected (%v)", err)
		}
		ch = admin(t) // the 404 closed that channel
	}
	p := publisherAt(t, guestURL)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, ch.ExchangeDeclarePassive(Exchange, amqp.ExchangeTopic, true, false, false, false, nil), "the exchange exists")
	// A declaration with other settings fails with 406 on an exchange declared
	// durable topic; the same settings succeed.
	require.NoError(t, ch.ExchangeDeclare(Exchange, amqp.ExchangeTopic, true, false, false, false, nil), "edge.events is a durable topic exchange")
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "mc-1", "c")))
}

// An existing exchange is used as it is: the publisher only checks it passively.
func TestExchangeExistingIsUsed(t *testing.T) {
	needRabbit(t)
	ch := admin(t)
	require.NoError(t, ch.ExchangeDeclare(Exchange, amqp.ExchangeTopic, true, false, false, false, nil))
	sub := subscribe(t, "edge.node.#")
	p := publisherAt(t, guestURL)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.stopping", "ex-1", "c")))
	require.Equal(t, "edge.node.stopping", receive(t, sub).Where)
}

// A queue that rejects publishes makes the broker nack: Publish returns ErrNacked.
func TestNackIsError(t *testing.T) {
	needRabbit(t)
	ch := admin(t)
	require.NoError(t, ch.ExchangeDeclare(Exchange, amqp.ExchangeTopic, true, false, false, false, nil))
	key := "edge.test.nack." + strconv.FormatInt(time.Now().UnixNano(), 36)
	q, err := ch.QueueDeclare("", false, true, true, false, amqp.Table{"x-max-length": int32(0), "x-overflow": "reject-publish"})
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(q.Name, key, Exchange, false, nil))
	p := publisherAt(t, guestURL)
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	err = p.Publish(ctx, lifecycletest.Message(key, "n-1", "c"))
	require.ErrorIs(t, err, ErrNacked)
	// The channel stays usable after a nack.
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "n-2", "c")))
}

func TestWrongPassword(t *testing.T) {
	needRabbit(t)
	const pw = "not-the-guest-password"
	p := publisherAt(t, "amqp://guest:"+pw+"@"+rabbitAddr+"/")
	err := p.Connect(ctx30(t))
	require.Error(t, err)
	t.Log(err)
	require.NotContains(t, err.Error(), pw)
	require.Contains(t, err.Error(), "amqp://"+rabbitAddr+"/", "the URL, redacted")
	require.Contains(t, err.Error(), "login refused")
	require.Contains(t, err.Error(), VarURL)
}

func TestWrongUser(t *testing.T) {
	needRabbit(t)
	const pw = "some-password-here"
	err := publisherAt(t, "amqp://nobody-such:"+pw+"@"+rabbitAddr+"/").Connect(ctx30(t))
	require.Error(t, err)
	require.NotContains(t, err.Error(), pw)
	require.Contains(t, err.Error(), "login refused")
}

func TestVhostMissing(t *testing.T) {
	needRabbit(t)
	err := publisherAt(t, "amqp://guest:guest@"+rabbitAddr+"/no-such-vhost-edgerelay").Connect(ctx30(t))
	require.Error(t, err)
	t.Log(err)
	require.Contains(t, err.Error(), "vhost")
	require.NotContains(t, err.Error(), "guest:guest")
}

func TestBrokerDownAtStart(t *testing.T) {
	needRabbit(t)
	px := lifecycletest.NewProxy(t, rabbitAddr)
	px.Down()
	p := publisherAt(t, "amqp://guest:guest@"+px.Addr+"/")
	ctx := ctx30(t)
	err := p.Connect(ctx)
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "Connect failed fast")
	require.Contains(t, err.Error(), px.Addr)
	require.ErrorIs(t, p.Publish(ctx, lifecycletest.Message("edge.node.started", "d-0", "c")), ErrNotConnected)

	sub := subscribe(t, "edge.node.registered")
	px.Up()
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.registered", "d-1", "c")))
	require.Equal(t, "d-1", receive(t, sub).Attrs["message-id"])
}

func TestBrokerRestartMidRun(t *testing.T) {
	needRabbit(t)
	px := lifecycletest.NewProxy(t, rabbitAddr)
	sub := subscribe(t, "edge.node.version_changed")
	p := publisherAt(t, "amqp://guest:guest@"+px.Addr+"/")
	ctx := ctx30(t)
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.version_changed", "r-1", "c")))
	require.Equal(t, "r-1", receive(t, sub).Attrs["message-id"])

	px.Down()
	err := p.Publish(ctx, lifecycletest.Message("edge.node.version_changed", "r-2", "c"))
	require.Error(t, err, "Publish through a cut connection")
	require.NoError(t, ctx.Err(), "Publish returned on its own: %v", err)
	t.Log(err)

	px.Up()
	require.NoError(t, p.Connect(ctx))
	require.NoError(t, p.Publish(ctx, lifecycletest.Message("edge.node.version_changed", "r-3", "c")))
	require.Equal(t, "r-3", receive(t, sub).Attrs["message-id"])
}

// Close returns when the connection is already dead, and Publish after it fails.
func TestCloseDeadConnection(t *testing.T) {
	needRabbit(t)
	px := lifecycletest.NewProxy(t, rabbitAddr)
	p := publisherAt(t, "amqp://guest:guest@"+px.Addr+"/")
	require.NoError(t, p.Connect(ctx30(t)))
	px.Down()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Close on a dead connection did not return")
	}
	require.ErrorIs(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "x", "c")), ErrClosed)
	require.ErrorIs(t, p.Connect(t.Context()), ErrClosed)
}

// A Connect whose context ends while the broker does not answer the handshake
// returns with the context's error.
func TestConnectContextEnds(t *testing.T) {
	ln := silentListener(t)
	p := publisherAt(t, "amqp://guest:guest@"+ln+"/")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Connect(ctx) }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(20 * time.Second):
		t.Fatal("Connect did not return when its context ended")
	}
}

// A broker that accepts but never answers: the URL's connection_timeout bounds the
// handshake when the context does not.
func TestHandshakeTimeout(t *testing.T) {
	ln := silentListener(t)
	p := publisherAt(t, "amqp://guest:guest@"+ln+"/?connection_timeout=200")
	done := make(chan error, 1)
	go func() { done <- p.Connect(context.Background()) }()
	select {
	case err := <-done:
		require.Error(t, err)
		t.Log(err)
		require.Contains(t, err.Error(), "connect to amqp://"+ln)
	case <-time.After(20 * time.Second):
		t.Fatal("Connect did not give up on a silent broker")
	}
}
