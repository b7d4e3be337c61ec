package broker

import (
	"bytes"
	"reflect"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// maxPubackBatch bounds the PUBACKs gathered before they are written: 256 PUBACKs are
// 1 KiB, the buffer a client's queue keeps between releases.
const maxPubackBatch = 256

// pubacks gathers the PUBACKs of one release of a client's queue and writes them to
// its connection at once: one write(2), and one wake-up of the client, for a whole
// settled prefix instead of one per message. Only the client's releaser goroutine
// uses it.
type pubacks struct {
	ids []uint16     // packet ids to acknowledge, in arrival order
	buf bytes.Buffer // their encoding
}

// add queues a PUBACK for id; the caller flushes.
func (p *pubacks) add(id uint16) { p.ids = append(p.ids, id) }

// flush writes the queued PUBACKs to cl, in order, as Mochi's Client.WritePacket
// would write them one by one, and forgets them.
//
// They are encoded by Mochi's own encoder (PubackEncode) with the fields WritePacket
// sets (protocol version, the client's maximum packet size, the problem and response
// information modes), so a v5 client gets the same bytes, and written as WritePacket
// writes:
//   - under the client's lock, the one WritePacket holds while writing, so no other
//     packet's bytes interleave with them;
//   - not to a closed client (WritePacket's ErrConnectionClosed), and a write error is
//     logged and otherwise ignored, as the releaser did with WritePacket's errors (the
//     read loop sees the broken connection and ends the client);
//   - within the connection's deadline, which Mochi's read loop keeps setting (Conn.
//     SetDeadline covers writes too); flush sets none of its own;
//   - counted in the server's BytesSent and PacketsSent, as WritePacket counts them;
//   - through the hooks added with Broker.addHook that provide OnPacketEncode or
//     OnPacketSent, in order (the daemon's own hooks provide neither; tests' do).
//
// One case is left to WritePacket, packet by packet: when Mochi holds bytes in the
// client's write buffer (outbuf, filled while the client's outbound queue of messages
// to deliver is not empty, so only for a subscriber). Writing past them would put these
// PUBACKs before an acknowledgement Mochi wrote earlier (a PUBREC, a PUBACK of a
// message not for the relay), against MQTT's acknowledgement order; WritePacket appends
// behind them.
func (p *pubacks) flush(b *Broker, cl *mochi.Client) {
	if len(p.ids) == 0 {
		return
	}
	defer p.reset()
	if cl.Closed() {
		b.log.Debug("write puback", "client", cl.ID, "err", mochi.ErrConnectionClosed)
		return
	}
	if cl.Net.Conn == nil {
		return
	}
	// Checked before encoding too, so that a fallback does not run the encode hooks
	// twice (only a subscriber filling Mochi's buffer in between still can).
	cl.Lock()
	buffered := mochiBuffered(cl)
	cl.Unlock()
	var sent []packets.Packet
	if !buffered {
		sent = p.encode(b, cl)
		cl.Lock()
		if buffered = mochiBuffered(cl); buffered {
			cl.Unlock()
		}
	}
	if buffered {
		for _, id := range p.ids {
			writePuback(b, cl, id)
		}
		return
	}
	n, err := cl.Net.Conn.Write(p.buf.Bytes())
	cl.Unlock()
	if err != nil {
		b.log.Debug("write puback", "client", cl.ID, "err", err)
		return
	}
	atomic.AddInt64(&b.srv.Info.BytesSent, int64(n))
	atomic.AddInt64(&b.srv.Info.PacketsSent, int64(len(p.ids)))
	if len(b.packetHooks) > 0 {
		p.sent(b, cl, sent)
	}
}

// encode fills buf with the PUBACKs of ids and returns their packets when hooks
// need them. A PUBACK larger than the client's maximum packet size is left out, as
// WritePacket refuses it (ErrPacketTooLarge); a 4-byte PUBACK never is.
func (p *pubacks) encode(b *Broker, cl *mochi.Client) []packets.Packet {
	tmpl := pubackFor(cl)
	var sent []packets.Packet
	if len(b.packetHooks) > 0 {
		sent = make([]packets.Packet, 0, len(p.ids))
	}
	for _, id := range p.ids {
		pk := tmpl
		pk.PacketID = id
		for _, h := range b.packetHooks {
			if h.Provides(mochi.OnPacketEncode) {
				pk = h.OnPacketEncode(cl, pk)
			}
		}
		start := p.buf.Len()
		if err := pk.PubackEncode(&p.buf); err != nil {
			b.log.Debug("encode puback", "client", cl.ID, "err", err)
			p.buf.Truncate(start)
			continue
		}
		if pk.Mods.MaxSize > 0 && uint32(p.buf.Len()-start) > pk.Mods.MaxSize {
			p.buf.Truncate(start)
			continue
		}
		if sent != nil {
			sent = append(sent, pk)
		}
	}
	return sent
}

// sent calls the OnPacketSent hooks for each PUBACK written, with its own bytes.
func (p *pubacks) sent(b *Broker, cl *mochi.Client, pks []packets.Packet) {
	var one bytes.Buffer
	for _, pk := range pks {
		one.Reset()
		_ = pk.PubackEncode(&one)
		for _, h := range b.packetHooks {
			if h.Provides(mochi.OnPacketSent) {
				h.OnPacketSent(cl, pk, one.Bytes())
			}
		}
	}
}

func (p *pubacks) reset() {
	p.ids = p.ids[:0]
	p.buf.Reset()
	if p.buf.Cap() > 4*maxPubackBatch {
		p.buf = bytes.Buffer{}
	}
}

// pubackFor returns a successful PUBACK for cl with the fields WritePacket sets for
// it, its packet id left to fill.
func pubackFor(cl *mochi.Client) packets.Packet {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Puback},
		ReasonCode:      packets.CodeSuccess.Code,
		Created:         time.Now().Unix(),
		ProtocolVersion: cl.Properties.ProtocolVersion,
	}
	pk.Mods.MaxSize = cl.Properties.Props.MaximumPacketSize
	if cl.Properties.Props.RequestProblemInfoFlag && cl.Properties.Props.RequestProblemInfo == 0 {
		pk.Mods.DisallowProblemInfo = true // [MQTT-3.1.2-29]
	}
	pk.Mods.AllowResponseInfo = true // WritePacket sets it for every packet but CONNACK
	return pk
}

// outbufIndex locates Mochi's unexported ClientConnection.outbuf (Mochi 2.7.9), the
// buffer WritePacket appends to while the client's outbound queue is not empty; nil
// if a Mochi version has no such field (then flush always leaves the PUBACKs to
// WritePacket, and TestOutbufField fails).
var outbufIndex = func() []int {
	f, ok := reflect.TypeFor[mochi.ClientConnection]().FieldByName("outbuf")
	if !ok || f.Type != reflect.TypeFor[*bytes.Buffer]() {
		return nil
	}
	return f.Index
}()

// mochiBuffered reports whether Mochi holds bytes for cl not written yet. The caller
// holds cl's lock, which guards outbuf. Reading an unexported field through reflect is
// allowed (only setting it, or taking it as an interface, is not).
func mochiBuffered(cl *mochi.Client) bool {
	if outbufIndex == nil {
		return true
	}
	return !reflect.ValueOf(&cl.Net).Elem().FieldByIndex(outbufIndex).IsNil()
}

// writePuback writes one successful PUBACK for id through Mochi.
func writePuback(b *Broker, cl *mochi.Client, id uint16) {
	ack := pubackFor(cl)
	ack.PacketID = id
	if err := cl.WritePacket(ack); err != nil {
		b.log.Debug("write puback", "client", cl.ID, "err", err)
	}
}
