package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/tidwall/gjson"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/settle"
	"github.com/edgerelay/edgerelay/adapters/topic"
)

// errRefused is the stop cause of a client disconnected so that it resends.
var errRefused = errors.New("message not accepted by the relay; disconnected so the client resends it")

// errReject is packets.ErrRejectPacket as an error, converted once: the conversion of
// the packets.Code value to an interface would allocate on every return.
var errReject error = packets.ErrRejectPacket

// bridge is the Mochi hook that hands PUBLISH packets matching a Source's filters to
// the relay and holds their acknowledgements until the relay has them.
//
// QoS 1: OnPublish publishes the event and hands the packet back marked Ignore
// (ignored), so Mochi neither acknowledges nor distributes it; once every done
// callback reported success, the client's releaser goroutine distributes it through
// the inline client and writes the PUBACK (several PUBACKs in one write, pubacks). QoS 2: OnPublish blocks until the relay has the event, then lets Mochi
// go on (PUBREC, distribution). QoS 0: published and passed on at once. In every
// case acknowledgements leave in the order the client's packets arrived (MQTT 3.1.1
// §4.6), so a client's non-matching QoS 1 and 2 packets queue behind its held ones.
type bridge struct {
	mochi.HookBase
	b *Broker

	mu      sync.Mutex                     // guards atts, clients, closed
	atts    []*attachment                  // every valid Source made, running or not
	clients map[*mochi.Client]*clientQueue // clients with held messages
	closed  bool                           // the broker is closing: hold nothing new

	releasers sync.WaitGroup // one per clientQueue
	warned    atomic.Bool    // "relay not running" was logged since the last Run start
}

func newBridge(b *Broker) *bridge {
	return &bridge{b: b, clients: map[*mochi.Client]*clientQueue{}}
}

// attachment is one Source's filters and, while its Run runs, its Publisher.
type attachment struct {
	name, keyPath, kind string
	filters             []string
	run                 *activeRun    // guarded by bridge.mu; nil while Run is not running
	started             chan struct{} // closed when Run attaches for the first time
	startOnce           sync.Once
}

// startGrace bounds how long a publish waits for a source that has been created but
// whose Run has not attached yet (the daemon is still starting): a client that
// connects in the first milliseconds is held briefly instead of refused.
const startGrace = 10 * time.Second

// awaitStart blocks until wait (an attachment's started) is closed, for up to
// startGrace.
func (h *bridge) awaitStart(wait <-chan struct{}) {
	t := time.NewTimer(startGrace)
	defer t.Stop()
	select {
	case <-wait:
	case <-t.C:
	case <-h.b.ctx.Done():
	}
}

type activeRun struct {
	ctx context.Context // the Run's context: Publish gives up when it ends
	pub adapters.Publisher
}

func (a *attachment) matches(name string) bool {
	for _, f := range a.filters {
		if topic.Match(f, name) {
			return true
		}
	}
	return false
}

// ID names the hook.
func (h *bridge) ID() string { return "edgerelay-bridge" }

// Provides declares the hook points the bridge serves.
func (h *bridge) Provides(b byte) bool { return b == mochi.OnPublish || b == mochi.OnDisconnect }

// OnPublish runs in the publishing client's read goroutine, once per PUBLISH, in
// arrival order. It blocks only while the relay applies back-pressure or, for QoS 2,
// until the relay holds the event.
func (h *bridge) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // our own distribution, or Broker.Publish
	}
	qos := pk.FixedHeader.Qos
	var buf [4]target // on the stack: a packet rarely matches more sources
	ts, inactive, q, wait := h.match(buf[:0], cl, pk.TopicName, qos > 0)
	if wait != nil {
		// A QoS 1 or 2 message for a source whose Run has not attached yet: hold it
		// for a while, then look again.
		h.awaitStart(wait)
		ts, inactive, q, _ = h.match(buf[:0], cl, pk.TopicName, false)
	}

	if len(ts) == 0 && !inactive {
		if qos == 0 || q == nil || q.empty() {
			return pk, nil
		}
		// Not for the relay, but earlier packets of this client are held: queue it
		// so that its acknowledgement keeps its place.
		e := q.push(&pk, 0)
		if e == nil {
			return pk, errReject
		}
		if qos == 1 {
			return ignored(pk), nil
		}
		return h.wait(e, pk)
	}
	if qos > 0 && inactive {
		if h.warned.CompareAndSwap(false, true) {
			h.b.log.Warn("relay source not running: refusing messages and disconnecting their publishers so they resend later",
				"topic", pk.TopicName, "client", cl.ID)
		}
		h.disconnect(cl)
		return pk, errReject
	}
	if qos == 0 {
		var attrs map[string]string
		if q != nil {
			attrs = q.attrsFor(&pk)
		} else {
			attrs = mqttAttrs(cl, &pk)
		}
		for _, t := range ts {
			_ = t.run.pub.Publish(t.run.ctx, t.att.event(&pk, attrs), h.doneQoS0)
		}
		return pk, nil
	}
	if q == nil {
		if q = h.queueFor(cl); q == nil {
			return pk, errReject
		}
	}
	e := q.push(&pk, len(ts))
	if e == nil {
		return pk, errReject // an earlier message failed: the client is being disconnected
	}
	attrs := q.attrsFor(&pk)
	for _, t := range ts {
		if err := t.run.pub.Publish(t.run.ctx, t.att.event(&pk, attrs), e.Done); err != nil {
			e.Done(adapters.Refuse(err)) // Publish never calls done when it fails
		}
	}
	if qos == 1 {
		return ignored(pk), nil
	}
	return h.wait(e, pk)
}

// ignored returns a QoS 1 packet the bridge holds as Mochi must go on with it: not at
// all (no PUBACK, no retain, no delivery; the releaser does all that). Rejecting it
// (packets.ErrRejectPacket) would do the same, but Mochi then logs the rejection at
// debug level with the packet as an argument, which copies the whole packet to the
// heap (about 700 B) even with debug logging off, and compares the error twice
// (errors.Is on a packets.Code value allocates). Mochi 2.7.9's processPublish instead
// takes a QoS 0 packet past the acknowledgement to publishToSubscribers, which does
// nothing for a packet marked Ignore, and retains nothing without the retain flag
// (TestHeldPacketIgnoredByMochi). The hooks' OnPublished then sees it; the daemon's
// hooks do not provide it.
func ignored(pk packets.Packet) packets.Packet {
	pk.FixedHeader.Qos = 0
	pk.FixedHeader.Retain = false
	pk.Ignore = true
	return pk
}

// target is a running attachment a packet goes to, with its run.
type target struct {
	att *attachment
	run *activeRun
}

// match appends to ts, under one lock, the running attachments whose filters match
// name, and returns them with whether a matching one is not running and the client's
// queue. With starting, it also returns the started channel of a matching attachment
// that has never run, to be waited for.
func (h *bridge) match(ts []target, cl *mochi.Client, name string, starting bool) (_ []target, inactive bool, q *clientQueue, wait <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.atts {
		if !a.matches(name) {
			continue
		}
		if a.run == nil || h.closed {
			inactive = true
			if starting && a.run == nil {
				select {
				case <-a.started:
				default:
					wait = a.started
				}
			}
			continue
		}
		ts = append(ts, target{a, a.run})
	}
	return ts, inactive, h.clients[cl], wait
}

// wait blocks a QoS 2 packet's OnPublish until its entry is released.
func (h *bridge) wait(e *settle.Entry[heldPacket], pk packets.Packet) (packets.Packet, error) {
	select {
	case ok := <-e.Value().released:
		if ok {
			return pk, nil
		}
	case <-h.b.ctx.Done():
	}
	return pk, errReject
}

func (h *bridge) doneQoS0(s adapters.Settlement) {
	if !s.OK() {
		h.b.log.Debug("qos 0 message not accepted by the relay and lost", "err", s.Err)
	}
}

// OnDisconnect drops the client's held messages: they were not acknowledged, so the
// client resends them when it reconnects.
func (h *bridge) OnDisconnect(cl *mochi.Client, _ error, _ bool) {
	h.mu.Lock()
	q := h.clients[cl]
	delete(h.clients, cl)
	h.mu.Unlock()
	if q != nil {
		q.stop()
	}
}

// queueFor returns the client's queue, creating it and its releaser goroutine if
// needed; nil once the broker is closing.
func (h *bridge) queueFor(cl *mochi.Client) *clientQueue {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	if q := h.clients[cl]; q != nil {
		return q
	}
	q := &clientQueue{h: h, cl: cl, tr: settle.New[heldPacket](settle.Options{}), stopped: make(chan struct{})}
	h.clients[cl] = q
	h.releasers.Add(1)
	// The releaser exits when the client disconnects or the broker closes (q.stop).
	go func() {
		defer h.releasers.Done()
		q.run()
	}()
	return q
}

// close stops holding messages and waits for every releaser to exit.
func (h *bridge) close() {
	h.mu.Lock()
	h.closed = true
	qs := make([]*clientQueue, 0, len(h.clients))
	for cl, q := range h.clients {
		qs = append(qs, q)
		delete(h.clients, cl)
	}
	h.mu.Unlock()
	for _, q := range qs {
		q.stop()
	}
	h.releasers.Wait()
}

// disconnect closes a client's connection so that it resends what it did not get
// acknowledged. A v5 client is told why.
func (h *bridge) disconnect(cl *mochi.Client) {
	if cl.Properties.ProtocolVersion == 5 {
		_ = h.b.srv.DisconnectClient(cl, packets.ErrImplementationSpecificError)
		return
	}
	cl.Stop(errRefused)
}

// distributed reports whether a QoS 1 PUBLISH held now must be handed to the broker
// when it is released: it is retained, or someone subscribes to its topic. Most
// relayed topics have no other subscriber, and then the held message keeps nothing
// but its packet id.
func (h *bridge) distributed(pk *packets.Packet) bool {
	if pk.FixedHeader.Retain {
		return true
	}
	subs := h.b.srv.Topics.Subscribers(pk.TopicName)
	return len(subs.Subscriptions) > 0 || len(subs.Shared) > 0 || len(subs.InlineSubscriptions) > 0
}

// distribute hands a held PUBLISH to the broker's subscribers, as Mochi would have,
// with its retain flag and properties.
func (h *bridge) distribute(pk packets.Packet) {
	pk.FixedHeader.Dup = false
	pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 0, false
	if pk.PacketID == 0 {
		pk.PacketID = 1
	}
	if err := h.b.srv.InjectPacket(h.b.inline, pk); err != nil {
		h.b.log.Warn("distribute message to subscribers", "topic", pk.TopicName, "err", err)
	}
}

// clientQueue holds one client's QoS 1 and 2 packets until the relay has them and
// releases their acknowledgements in arrival order.
type clientQueue struct {
	h       *bridge
	cl      *mochi.Client
	tr      *settle.Tracker[heldPacket]
	stopped chan struct{} // closed by stop
	once    sync.Once     // closes stopped
	acks    pubacks       // the releaser's PUBACKs to write

	// attrs are the events' Attrs maps of this client, one per QoS, retain and dup
	// flags, made on first use and shared by its events (an Event is immutable once
	// published). Only OnPublish, in the client's read goroutine, touches them.
	attrs [3][2][2]map[string]string
}

// heldPacket is what a held packet needs to be acknowledged: its id and, for QoS 2,
// the channel its OnPublish waits on. The whole packet is kept only when it has to be
// distributed on release (distributed).
type heldPacket struct {
	id       uint16
	pk       *packets.Packet // QoS 1 to distribute on release; nil if nobody subscribes
	released chan bool       // QoS 2: gets true when OnPublish may go on, is closed when it must reject
}

// empty reports whether nothing of this client is held or being acknowledged and
// nothing was refused: then a packet not for the relay may bypass the queue.
func (q *clientQueue) empty() bool { return q.tr.Empty() }

// push holds pk until pending done callbacks have reported; nil when the queue no
// longer holds anything (a refusal, a disconnect).
func (q *clientQueue) push(pk *packets.Packet, pending int) *settle.Entry[heldPacket] {
	x := heldPacket{id: pk.PacketID}
	switch {
	case pk.FixedHeader.Qos == 2:
		x.released = make(chan bool, 1)
	case q.h.distributed(pk):
		c := *pk
		x.pk = &c
	}
	e, err := q.tr.Push(context.Background(), x, pending)
	if err != nil {
		return nil
	}
	return e
}

// stop ends the releaser and fails every waiting QoS 2 entry.
func (q *clientQueue) stop() {
	for _, x := range q.tr.Close() {
		if x.released != nil {
			close(x.released)
		}
	}
	q.once.Do(func() { close(q.stopped) })
}

// run releases acknowledgements until stop.
func (q *clientQueue) run() {
	for {
		select {
		case <-q.tr.Ready():
			q.release()
		case <-q.stopped:
			return
		}
	}
}

// release acknowledges the settled prefix of the queue in order. When a refused
// packet reaches the head, it drops the rest and disconnects the client.
func (q *clientQueue) release() {
	_, cause := q.tr.ReleaseBatch(q.ackBatch)
	if cause == nil {
		return
	}
	for _, x := range q.tr.Close() {
		if x.released != nil {
			close(x.released)
		}
	}
	q.h.b.log.Warn("relay refused a message; disconnecting its publisher so it resends",
		"client", q.cl.ID, "err", cause)
	q.h.disconnect(q.cl)
}

// ackBatch acknowledges released packets in order: the PUBACKs of consecutive QoS 1
// packets leave in one write (pubacks.flush), a packet to distribute being handed to
// its subscribers first; a QoS 2 packet first flushes the PUBACKs before it, then lets
// its OnPublish return. It runs within ReleaseBatch,
// so no PUBACK Mochi writes for a packet arriving meanwhile (one not for the relay)
// can pass these.
func (q *clientQueue) ackBatch(xs []heldPacket) {
	for _, x := range xs {
		if x.released != nil {
			// QoS 2: its OnPublish returns (Mochi sends PUBREC and distributes) after
			// the PUBACKs before it have left.
			q.acks.flush(q.h.b, q.cl)
			x.released <- true // capacity 1, and each entry is released once
			continue
		}
		if x.pk != nil {
			q.h.distribute(*x.pk)
		}
		q.acks.add(x.id)
		if len(q.acks.ids) == maxPubackBatch {
			q.acks.flush(q.h.b, q.cl)
		}
	}
	q.acks.flush(q.h.b, q.cl)
}

// Source returns a source that receives, in-process, every PUBLISH from the
// broker's network clients whose topic matches one of filters (MQTT wildcards; a
// "$share/<group>/" prefix is ignored, so an mqtt source's topics can be passed as
// they are). keyPath is a gjson path into a JSON payload for the ordering key (empty:
// the topic) and kind the event kind (empty: "raw"). From this call on, matching QoS
// 1 and 2 messages are never acknowledged while the source's Run is not running: the
// client is disconnected and resends them later.
func (b *Broker) Source(name string, filters []string, keyPath, kind string) adapters.Source {
	s := &source{h: b.bridge}
	var errs []error
	if len(filters) == 0 {
		errs = append(errs, errors.New("at least one topic filter is required"))
	}
	plain := make([]string, 0, len(filters))
	for _, f := range filters {
		f = topic.Unshare(f)
		if err := topic.Validate(f); err != nil {
			errs = append(errs, err)
		}
		plain = append(plain, f)
	}
	if err := errors.Join(errs...); err != nil {
		s.err = fmt.Errorf("embedded broker source %q: %w", name, err)
		return s
	}
	if kind == "" {
		kind = adapters.KindRaw
	}
	s.att = &attachment{name: name, keyPath: keyPath, kind: kind, filters: plain, started: make(chan struct{})}
	b.bridge.mu.Lock()
	b.bridge.atts = append(b.bridge.atts, s.att)
	b.bridge.mu.Unlock()
	return s
}

// Detach removes src, a Source of this broker whose Run has returned, so that its
// filters no longer take messages. A message no attachment matches is not for the
// relay: the broker acknowledges it at once. So a configuration reload that changes
// or renames an in-process source creates its successor (Source) first, then stops
// and detaches the old one: a QoS 1 or 2 message matching an attachment that does
// not run waits for it to start (startGrace) or is refused and its client
// disconnected, so that it resends; nothing is acknowledged in between. Sources of
// another broker, and one detached already, are ignored.
func (b *Broker) Detach(src adapters.Source) {
	s, ok := src.(*source)
	if !ok || s.h != b.bridge || s.att == nil {
		return
	}
	b.bridge.mu.Lock()
	defer b.bridge.mu.Unlock()
	for i, a := range b.bridge.atts {
		if a == s.att {
			b.bridge.atts = append(b.bridge.atts[:i:i], b.bridge.atts[i+1:]...)
			return
		}
	}
}

// source is the adapters.Source of an attachment.
type source struct {
	h   *bridge
	att *attachment
	err error // invalid filters: Run fails with it
}

// Run attaches pub to the broker until ctx is done (then it returns nil) or the
// broker closes (then it returns an error).
func (s *source) Run(ctx context.Context, pub adapters.Publisher) error {
	if s.err != nil {
		return s.err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.h.b.ctx, cancel)
	defer stop()

	h := s.h
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		return errors.New("embedded broker is closed")
	case s.att.run != nil:
		h.mu.Unlock()
		return fmt.Errorf("embedded broker source %q is already running", s.att.name)
	}
	s.att.run = &activeRun{ctx: rctx, pub: pub}
	h.warned.Store(false)
	h.mu.Unlock()
	s.att.startOnce.Do(func() { close(s.att.started) })
	defer func() {
		h.mu.Lock()
		s.att.run = nil
		h.mu.Unlock()
	}()

	<-rctx.Done()
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("embedded broker closed")
}

// event turns a packet into an event for this attachment, with attrs (see mqttAttrs).
// The event shares the packet's payload: Mochi decodes every packet from a fresh copy
// of the bytes it read (Client.ReadPacket) and neither it nor the bridge writes to a
// payload afterwards, so the bytes stay as they are for the event's life.
func (a *attachment) event(pk *packets.Packet, attrs map[string]string) *adapters.Event {
	return &adapters.Event{
		ID:       adapters.NewID(),
		Kind:     a.kind,
		Key:      eventKey(a.keyPath, pk.TopicName, pk.Payload),
		Source:   a.name,
		Topic:    pk.TopicName,
		Payload:  pk.Payload,
		Attrs:    attrs,
		Received: time.Now(),
	}
}

// mqttAttrs returns the Attrs of an event from pk: mqtt.qos, mqtt.client_id, and
// mqtt.retained and mqtt.duplicate when set.
func mqttAttrs(cl *mochi.Client, pk *packets.Packet) map[string]string {
	attrs := make(map[string]string, 4)
	attrs["mqtt.qos"] = strconv.Itoa(int(pk.FixedHeader.Qos))
	attrs["mqtt.client_id"] = cl.ID
	if pk.FixedHeader.Retain {
		attrs["mqtt.retained"] = "true"
	}
	if pk.FixedHeader.Dup {
		attrs["mqtt.duplicate"] = "true"
	}
	return attrs
}

// attrsFor returns mqttAttrs for pk from the client's cache. Called only from
// OnPublish.
func (q *clientQueue) attrsFor(pk *packets.Packet) map[string]string {
	fh := pk.FixedHeader
	qos, r, d := min(int(fh.Qos), 2), b2i(fh.Retain), b2i(fh.Dup)
	m := q.attrs[qos][r][d]
	if m == nil {
		m = mqttAttrs(q.cl, pk)
		q.attrs[qos][r][d] = m
	}
	return m
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// eventKey returns the value at keyPath in a JSON payload, or the topic when keyPath
// is empty, the payload is not JSON or nothing is at the path.
func eventKey(keyPath, topic string, payload []byte) string {
	if keyPath == "" || !gjson.ValidBytes(payload) {
		return topic
	}
	if v := gjson.GetBytes(payload, keyPath); v.Exists() && v.String() != "" {
		return v.String()
	}
	return topic
}
