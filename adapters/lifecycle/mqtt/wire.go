package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// MQTT 3.1.1 control packet types (the high nibble of the first byte).
const (
	pktCONNECT    = 1
	pktCONNACK    = 2
	pktPUBLISH    = 3
	pktPUBACK     = 4
	pktPUBREC     = 5
	pktPUBREL     = 6
	pktPUBCOMP    = 7
	pktPINGREQ    = 12
	pktPINGRESP   = 13
	pktDISCONNECT = 14
)

// maxIncoming bounds a packet read from the broker: a publisher only gets
// acknowledgements, so anything big is garbage.
const maxIncoming = 64 << 10

// ackKind is the acknowledgement a publish waits for.
type ackKind byte

const (
	ackPUBACK  ackKind = pktPUBACK
	ackPUBCOMP ackKind = pktPUBCOMP
)

func (k ackKind) String() string {
	if k == ackPUBCOMP {
		return "PUBCOMP"
	}
	return "PUBACK"
}

// ack is an acknowledgement the reader passes to Publish.
type ack struct {
	kind ackKind
	id   uint16
}

// conn is one MQTT connection: a reader goroutine that hands acknowledgements to
// Publish (and answers PUBREC with PUBREL), and a pinger that keeps it alive.
type conn struct {
	raw     net.Conn // the TCP connection, closed to abort
	nc      net.Conn // raw or the TLS connection over it
	timeout time.Duration

	wmu sync.Mutex // guards writes to nc

	acks chan ack
	done chan struct{} // closed when the reader ends
	err  error         // why the reader ended; set before done is closed
	stop chan struct{} // closed by close: ends the pinger
	once sync.Once     // guards close(stop)
	wg   sync.WaitGroup
}

// dial connects to addr, performs the TLS handshake when tc is set, sends connect
// and waits for CONNACK, all within ctx; then it starts the reader and the pinger.
func dial(ctx context.Context, addr string, tc *tls.Config, connect []byte, timeout time.Duration) (*conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	nc := raw
	// ctx bounds the whole handshake: its end sets a deadline in the past.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	err = func() error {
		if tc != nil {
			t := tls.Client(raw, tc)
			if err := t.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("TLS handshake: %w", err)
			}
			nc = t
		}
		if _, err := nc.Write(connect); err != nil {
			return fmt.Errorf("send CONNECT: %w", err)
		}
		br := bufio.NewReader(nc)
		typ, body, err := readPacket(br)
		if err != nil {
			return fmt.Errorf("wait for CONNACK: %w", err)
		}
		if typ>>4 != pktCONNACK || len(body) != 2 {
			return fmt.Errorf("wait for CONNACK: got packet type %d", typ>>4)
		}
		if body[1] != 0 {
			return &RefusedError{Code: body[1]}
		}
		if br.Buffered() > 0 {
			return errors.New("broker sent data after CONNACK before any request")
		}
		return nil
	}()
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = raw.Close()
		if ctx.Err() != nil && err != ctx.Err() && !errors.As(err, new(*RefusedError)) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	c := &conn{raw: raw, nc: nc, timeout: timeout, acks: make(chan ack, 8),
		done: make(chan struct{}), stop: make(chan struct{})}
	c.wg.Add(2)
	go c.read() // ends when the connection does (close or abort)
	go c.ping() // ends with stop or the reader
	return c, nil
}

// write writes one packet, bounded by the timeout.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.nc.Write(b)
	return err
}

// read reads packets until the connection fails or is closed: a broker silent for
// two keep-alive periods (we ping every half period) counts as gone.
func (c *conn) read() {
	defer c.wg.Done()
	defer close(c.done)
	br := bufio.NewReader(c.nc)
	for {
		_ = c.raw.SetReadDeadline(time.Now().Add(2 * KeepAlive))
		typ, body, err := readPacket(br)
		if err != nil {
			c.err = err
			_ = c.raw.Close()
			return
		}
		switch typ >> 4 {
		case pktPUBACK, pktPUBCOMP:
			if len(body) >= 2 {
				select {
				case c.acks <- ack{ackKind(typ >> 4), binary.BigEndian.Uint16(body)}:
				default: // nobody waits for it (a publish given up): drop it
				}
			}
		case pktPUBREC:
			if len(body) >= 2 {
				if err := c.write([]byte{pktPUBREL<<4 | 0x02, 2, body[0], body[1]}); err != nil {
					c.err = err
					_ = c.raw.Close()
					return
				}
			}
		}
	}
}

// ping sends PINGREQ every half keep-alive period.
func (c *conn) ping() {
	defer c.wg.Done()
	t := time.NewTicker(KeepAlive / 2)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.done:
			return
		case <-t.C:
			if err := c.write([]byte{pktPINGREQ << 4, 0}); err != nil {
				c.abort()
				return
			}
		}
	}
}

// abort closes the connection at once.
func (c *conn) abort() { _ = c.raw.Close() }

// DisconnectTimeout bounds the DISCONNECT that a graceful close writes, whatever
// the timeout: a broker that reads nothing (or a publish's write stuck before it)
// holds Close up no longer than this.
const DisconnectTimeout = time.Second

// close ends the connection, with a DISCONNECT first when graceful, and waits for
// its goroutines.
func (c *conn) close(graceful bool) {
	c.once.Do(func() {
		close(c.stop)
		if graceful {
			select {
			case <-c.done:
			default:
				c.disconnect(min(c.timeout, DisconnectTimeout))
			}
		}
		c.abort()
	})
	c.wg.Wait()
}

// disconnect writes DISCONNECT within d: the connection is cut at d, so that a
// write in flight (holding the write lock until its own, longer deadline) fails
// then too instead of delaying the DISCONNECT.
func (c *conn) disconnect(d time.Duration) {
	t := time.AfterFunc(d, c.abort)
	defer t.Stop()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(d))
	_, _ = c.nc.Write([]byte{pktDISCONNECT << 4, 0})
}

// readPacket reads one control packet: its first byte and its body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mul
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("malformed remaining length")
		}
		mul *= 128
	}
	if n > maxIncoming {
		return 0, nil, fmt.Errorf("packet of %d bytes from the broker (type %d)", n, typ>>4)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return typ, body, nil
}

// packet frames a body with its first byte and remaining length.
func packet(first byte, body []byte) []byte {
	out := make([]byte, 0, len(body)+5)
	out = append(out, first)
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// connectPacket is an MQTT 3.1.1 CONNECT with a clean session and no will. A
// password is sent with the user name flag set even for an empty user name (a JWT
// alone), as 3.1.1 requires a user name with every password.
func connectPacket(clientID, user, pass string, keepAlive time.Duration) []byte {
	flags := byte(0x02) // clean session
	if user != "" || pass != "" {
		flags |= 0x80
	}
	if pass != "" {
		flags |= 0x40
	}
	b := appendString(nil, "MQTT")
	b = append(b, 4, flags) // protocol level 4 = 3.1.1
	b = binary.BigEndian.AppendUint16(b, uint16(keepAlive/time.Second))
	b = appendString(b, clientID)
	if flags&0x80 != 0 {
		b = appendString(b, user)
	}
	if flags&0x40 != 0 {
		b = appendString(b, pass)
	}
	return packet(pktCONNECT<<4, b)
}

// publishPacket is a PUBLISH with retain and dup off; id is used at QoS 1 and 2.
func publishPacket(topic string, qos byte, id uint16, payload []byte) []byte {
	b := appendString(make([]byte, 0, len(topic)+len(payload)+4), topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return packet(pktPUBLISH<<4|qos<<1, append(b, payload...))
}
