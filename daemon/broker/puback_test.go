package broker

import (
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countConn counts the writes to a connection.
type countConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// wire collects what a client's peer reads.
type wire struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *wire) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// pipeClient returns a broker client (not connected to the server's loops) of MQTT
// protocol version v whose connection counts its writes, and what its peer reads.
func pipeClient(t *testing.T, b *Broker, id string, v byte) (*mochi.Client, *countConn, *wire) {
	t.Helper()
	server, peer := net.Pipe()
	conn := &countConn{Conn: server}
	w := &wire{}
	drained := make(chan struct{})
	// The copy ends when the test closes the pipe.
	go func() { _, _ = io.Copy(w, peer); close(drained) }()
	cl := b.srv.NewClient(conn, "tcp", id, false)
	cl.Properties.ProtocolVersion = v
	t.Cleanup(func() { cl.Stop(nil); _ = server.Close(); _ = peer.Close(); <-drained })
	return cl, conn, w
}

// mochiBytes returns what Mochi's WritePacket writes for PUBACKs of ids to a client of
// protocol version v.
func mochiBytes(t *testing.T, b *Broker, v byte, ids []uint16) []byte {
	t.Helper()
	cl, _, w := pipeClient(t, b, "reference", v)
	want := 0
	for _, id := range ids {
		writePuback(b, cl, id)
		want += 4
	}
	require.Eventually(t, func() bool { return len(w.bytes()) >= want }, 10*time.Second, time.Millisecond)
	return w.bytes()
}

// pubackIDs parses a stream of PUBACKs (and skips any other packet), returning
// their ids in order.
func pubackIDs(t *testing.T, p []byte) []uint16 {
	t.Helper()
	var ids []uint16
	for len(p) > 0 {
		typ := p[0] >> 4
		n, shift, i := 0, 0, 1
		for ; ; i++ {
			require.Less(t, i, len(p), "truncated packet")
			n |= int(p[i]&0x7f) << shift
			shift += 7
			if p[i]&0x80 == 0 {
				break
			}
		}
		body := p[i+1 : i+1+n]
		if typ == packets.Puback {
			ids = append(ids, uint16(body[0])<<8|uint16(body[1]))
		}
		p = p[i+1+n:]
	}
	return ids
}

// heldPublishes hands n QoS 1 PUBLISH packets (ids first, first+1, …) on topic to the
// bridge as cl's read loop would and returns their held events, in order.
func heldPublishes(t *testing.T, b *Broker, cl *mochi.Client, pub holdPublisher, topic string, first uint16, n int) []held {
	t.Helper()
	hs := make([]held, 0, n)
	for i := range n {
		pk := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
			TopicName:   topic,
			Payload:     []byte(`{"n":1}`),
			PacketID:    first + uint16(i),
		}
		// OnPublish waits for Publish, which waits for the test: publish from a goroutine.
		res := make(chan packets.Packet, 1)
		go func() {
			out, err := b.bridge.OnPublish(cl, pk)
			assert.NoError(t, err)
			res <- out
		}()
		hs = append(hs, pub.next(t))
		require.True(t, (<-res).Ignore, "QoS 1: Mochi must not acknowledge it")
	}
	return hs
}

// idle waits until cl's queue released everything it can.
func idle(t *testing.T, b *Broker, cl *mochi.Client) {
	t.Helper()
	b.bridge.mu.Lock()
	q := b.bridge.clients[cl]
	b.bridge.mu.Unlock()
	require.NotNil(t, q)
	select {
	case <-q.tr.Idle():
	case <-time.After(10 * time.Second):
		t.Fatal("queue not idle within 10s")
	}
}

// TestPubacksCoalesced: the PUBACKs of messages settled together leave in one write,
// in arrival order, byte for byte what Mochi writes one by one, for MQTT 3.1.1 and 5
// clients; Mochi's sent-packet statistics and OnPacketSent hooks see each of them.
func TestPubacksCoalesced(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run("v"+strconv.Itoa(int(v)), func(t *testing.T) {
			b, rec := startBroker(t, nil)
			pub := make(holdPublisher)
			run(t, b.Source("s", []string{"t/#"}, "", ""), pub)
			waitRunning(t, b)
			cl, conn, w := pipeClient(t, b, "coalesce", v)
			ids := []uint16{7, 8, 9, 10, 11}
			want := mochiBytes(t, b, v, ids)
			sent := b.srv.Info.PacketsSent

			hs := heldPublishes(t, b, cl, pub, "t/x", ids[0], len(ids))
			for _, h := range slices.Backward(hs) { // the head last: one release of all
				h.done(nil)
			}
			idle(t, b, cl)
			require.Eventually(t, func() bool { return len(w.bytes()) >= len(want) }, 10*time.Second, time.Millisecond)
			require.Equal(t, want, w.bytes(), "the bytes Mochi writes")
			require.Equal(t, ids, pubackIDs(t, w.bytes()), "arrival order")
			require.EqualValues(t, 1, conn.writes.Load(), "one write for the settled prefix")
			require.Equal(t, sent+int64(len(ids)), atomic.LoadInt64(&b.srv.Info.PacketsSent), "PacketsSent")
			_, acked := rec.get("coalesce")
			require.Equal(t, ids, acked, "OnPacketSent for each, in order")
		})
	}
}

// TestPubacksBehindMochiBuffer: while Mochi holds bytes for a client (a subscriber
// with messages queued to it), the PUBACKs queue behind them instead of passing an
// acknowledgement Mochi wrote before.
func TestPubacksBehindMochiBuffer(t *testing.T) {
	b, _ := startBroker(t, nil)
	pub := make(holdPublisher)
	run(t, b.Source("s", []string{"t/#"}, "", ""), pub)
	waitRunning(t, b)
	cl, conn, w := pipeClient(t, b, "subscriber", 4)
	b.srv.Clients.Add(cl)
	b.srv.Topics.Subscribe(cl.ID, packets.Subscription{Filter: "sub/x"})
	require.NoError(t, b.Publish("sub/x", []byte("m"), false, 0)) // queued: no write loop yet
	writePuback(b, cl, 100)                                       // Mochi buffers it behind the queue
	cl.RLock()
	require.True(t, mochiBuffered(cl), "Mochi's write buffer holds the PUBACK")
	cl.RUnlock()
	require.Zero(t, conn.writes.Load())

	hs := heldPublishes(t, b, cl, pub, "t/x", 1, 3)
	for _, h := range slices.Backward(hs) {
		h.done(nil)
	}
	idle(t, b, cl)
	require.Zero(t, conn.writes.Load(), "nothing passed Mochi's buffer")

	go cl.WriteLoop() // ends with the client (cleanup)
	require.Eventually(t, func() bool { return len(pubackIDs(t, w.bytes())) == 4 }, 10*time.Second, time.Millisecond)
	require.Equal(t, []uint16{100, 1, 2, 3}, pubackIDs(t, w.bytes()))
}

// TestNoPacketHooks: the daemon's own hooks do not watch written packets, so the
// coalesced PUBACKs skip no hook of theirs.
func TestNoPacketHooks(t *testing.T) {
	b, err := New(Config{Listen: "127.0.0.1:0", Enabled: EnabledTrue}, nil)
	require.NoError(t, err)
	defer func() { _ = b.Close() }()
	require.Empty(t, b.packetHooks)
}

// TestOutbufField: Mochi's write buffer is where flush looks for it; without it every
// PUBACK would go through WritePacket one by one.
func TestOutbufField(t *testing.T) {
	require.NotNil(t, outbufIndex, "mochi.ClientConnection.outbuf (*bytes.Buffer) not found: check pubacks.flush against this Mochi version")
}

// TestRefusalAfterCoalescedAcks: a release whose prefix ends at a refused message
// writes the prefix's PUBACKs, then disconnects the client.
func TestRefusalAfterCoalescedAcks(t *testing.T) {
	b, _ := startBroker(t, nil)
	pub := make(holdPublisher)
	run(t, b.Source("s", []string{"t/#"}, "", ""), pub)
	waitRunning(t, b)
	cl, conn, w := pipeClient(t, b, "refused", 4)
	hs := heldPublishes(t, b, cl, pub, "t/x", 1, 4)
	hs[3].done(nil)
	hs[2].done(context.Canceled) // refused
	hs[1].done(nil)
	hs[0].done(nil)
	require.Eventually(t, cl.Closed, 10*time.Second, time.Millisecond, "client not disconnected")
	require.Eventually(t, func() bool { return len(pubackIDs(t, w.bytes())) == 2 }, 10*time.Second, time.Millisecond)
	require.Equal(t, []uint16{1, 2}, pubackIDs(t, w.bytes()))
	require.EqualValues(t, 1, conn.writes.Load())
}

// TestHeldPacketIgnoredByMochi: Mochi does nothing with a held QoS 1 packet (see
// ignored): no PUBACK, no retained message, no delivery, until the relay accepted it;
// then it is acknowledged, retained and delivered once.
func TestHeldPacketIgnoredByMochi(t *testing.T) {
	b, rec := startBroker(t, nil)
	pub := make(holdPublisher, 10)
	run(t, b.Source("s", []string{"relay/#"}, "", ""), pub)
	waitRunning(t, b)
	subs := subscriber(t, b, "#")

	c := client(t, b, "device-7", nil)
	tok := c.Publish("relay/x", 1, true, "held")
	h := pub.next(t)
	// Mochi handles a client's packets in order: once a later one is delivered, it
	// is done with the held one.
	require.True(t, c.Publish("other/x", 0, false, "marker").WaitTimeout(10*time.Second))
	require.Equal(t, "marker", string(msgOf(t, subs).Payload()), "the held message was delivered before the relay accepted it")
	require.Empty(t, b.srv.Topics.Messages("relay/x"), "retained before the relay accepted it")
	_, acked := rec.get("device-7")
	require.Empty(t, acked, "acknowledged before the relay accepted it")

	h.done(nil)
	require.True(t, tok.WaitTimeout(10*time.Second), "no PUBACK after done(nil)")
	m := msgOf(t, subs)
	require.Equal(t, "held", string(m.Payload()))
	require.Len(t, b.srv.Topics.Messages("relay/x"), 1, "retained once accepted")
	select {
	case m := <-subs:
		t.Fatalf("delivered twice: %q", m.Payload())
	case <-time.After(50 * time.Millisecond):
	}
}
