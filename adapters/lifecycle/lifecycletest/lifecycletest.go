// Package lifecycletest is the conformance suite every lifecycle adapter (package
// adapters/lifecycle) passes against a real broker or a faithful fake: messages
// arrive whole, where the spec's table puts them, with type and corename promoted,
// in order; Publish on a cancelled context returns promptly; Close is idempotent;
// Connect to a broker that is not there fails with an error, not a hang.
package lifecycletest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
)

// Received is one message as a subscriber saw it.
type Received struct {
	// Where is the subject, topic, channel or routing key it arrived on (for SNS
	// and Pub/Sub, the topic ARN or topic id).
	Where string
	// Body is the message body (for Pub/Sub, the decoded data).
	Body []byte
	// Attrs are the promoted headers or attributes ("type", "corename", and any
	// other the protocol carries: "content-type", "Nats-Msg-Id", a Kafka key as
	// "key").
	Attrs map[string]string
}

// Harness is what Run needs from an adapter's test.
type Harness struct {
	// New builds a publisher for the broker under test (not connected yet).
	New func(t *testing.T) lifecycle.Publisher
	// Subscribe starts a subscriber before anything is published; it returns the
	// messages as they arrive. It is called once per subtest.
	Subscribe func(t *testing.T) <-chan Received
	// Where is where m must arrive ([lifecycle.DomainTopic], the type, its MQTT
	// topic, an ARN).
	Where func(m lifecycle.Message) string
	// Promoted are the attributes every message must carry with these values, as
	// functions of the message (nil for a broker that promotes by channel or topic
	// only: Redis, MQTT).
	Promoted func(m lifecycle.Message) map[string]string
	// OrderedPerWhere says the broker orders messages only per destination (Kafka
	// orders per partition, and the domain topics are two): Delivers then checks the
	// order of the messages that arrive on each Where, not across them.
	OrderedPerWhere bool
	// Unreachable builds a publisher for a broker that is not there (a closed
	// port); nil skips that subtest.
	Unreachable func(t *testing.T) lifecycle.Publisher
}

// Message returns a sample message of type typ with a valid CloudEvents body.
func Message(typ, id, corename string) lifecycle.Message {
	body, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "edgerelay://" + corename + "/node-test",
		"type": typ, "time": "2026-12-01T19:00:00.123Z", "datacontenttype": "application/json",
		"corename": corename, "data": map[string]any{"node_id": "node-test", "n": id},
	})
	return lifecycle.Message{ID: id, Type: typ, CoreName: corename, Topic: lifecycle.DomainTopic(typ), Body: body}
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Run("Delivers", func(t *testing.T) {
		ch := h.Subscribe(t)
		p := h.New(t)
		t.Cleanup(func() { _ = p.Close() })
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		require.NoError(t, p.Connect(ctx))
		msgs := []lifecycle.Message{
			Message("edge.node.started", "id-1", "plant-7"),
			Message("edge.node.status_changed", "id-2", "plant-7"),
			Message("edge.command_execution.completed", "id-3", "plant 7/é"),
			Message("edge.alert.relayed", "id-4", "plant-7"),
		}
		for _, m := range msgs {
			require.NoError(t, p.Publish(ctx, m), m.Type)
		}
		got := make([]Received, 0, len(msgs))
		for i, m := range msgs {
			select {
			case r := <-ch:
				got = append(got, r)
			case <-time.After(30 * time.Second):
				t.Fatalf("message %d (%s) did not arrive", i, m.Type)
			}
		}
		for i, m := range msgs {
			r := got[i]
			if h.OrderedPerWhere {
				// The first message not yet taken that arrived where m belongs.
				j := slices.IndexFunc(got, func(r Received) bool { return r.Where == h.Where(m) })
				require.GreaterOrEqual(t, j, 0, "message %d (%s): nothing (more) arrived on %s", i, m.Type, h.Where(m))
				r = got[j]
				got[j].Where = "\x00taken"
			}
			require.Equal(t, h.Where(m), r.Where, "message %d", i)
			require.JSONEq(t, string(m.Body), string(r.Body), "message %d arrives whole", i)
			if h.Promoted != nil {
				for k, v := range h.Promoted(m) {
					require.Equal(t, v, r.Attrs[k], "message %d: attribute %s", i, k)
				}
			}
		}
	})
	t.Run("Batch", func(t *testing.T) {
		p := h.New(t)
		t.Cleanup(func() { _ = p.Close() })
		bp, ok := p.(lifecycle.BatchPublisher)
		if !ok {
			t.Skip("the publisher sends one message at a time (no lifecycle.BatchPublisher)")
		}
		ch := h.Subscribe(t)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		require.NoError(t, p.Connect(ctx))
		var msgs []lifecycle.Message
		for i := range 50 {
			msgs = append(msgs, Message("edge.alert.relayed", fmt.Sprintf("batch-%02d", i), "plant-7"))
		}
		require.NoError(t, bp.PublishBatch(ctx, msgs[:1]))
		require.NoError(t, bp.PublishBatch(ctx, msgs[1:]))
		require.NoError(t, bp.PublishBatch(ctx, nil))
		for i, m := range msgs {
			select {
			case r := <-ch:
				require.Equal(t, h.Where(m), r.Where)
				require.JSONEq(t, string(m.Body), string(r.Body), "batch message %d arrives whole and in order", i)
			case <-time.After(30 * time.Second):
				t.Fatalf("batch message %d did not arrive", i)
			}
		}
	})
	t.Run("CancelledPublishReturns", func(t *testing.T) {
		p := h.New(t)
		t.Cleanup(func() { _ = p.Close() })
		require.NoError(t, p.Connect(t.Context()))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		done := make(chan error, 1)
		go func() { done <- p.Publish(ctx, Message("edge.node.started", "id-c", "c")) }()
		select {
		case <-done: // nil (sent before the context was looked at) or an error
		case <-time.After(20 * time.Second):
			t.Fatal("Publish on a cancelled context did not return")
		}
	})
	t.Run("CloseTwice", func(t *testing.T) {
		p := h.New(t)
		require.NoError(t, p.Close(), "Close before Connect")
		p = h.New(t)
		require.NoError(t, p.Connect(t.Context()))
		require.NoError(t, p.Close())
		require.NoError(t, p.Close())
		require.Error(t, p.Publish(t.Context(), Message("edge.node.started", "id-x", "c")), "Publish after Close")
	})
	if h.Unreachable != nil {
		t.Run("Unreachable", func(t *testing.T) {
			p := h.Unreachable(t)
			t.Cleanup(func() { _ = p.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			err := p.Connect(ctx)
			if err == nil {
				err = p.Publish(ctx, Message("edge.node.started", "id-u", "c"))
			}
			require.Error(t, err, "a broker that is not there")
			require.NoError(t, ctx.Err(), "Connect or Publish waited for the whole context: %v", err)
		})
	}
}

// FreeAddr returns a loopback address nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}
