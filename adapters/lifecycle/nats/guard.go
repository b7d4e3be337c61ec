package nats

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The bounds the guard puts on what a server sends.
const (
	// maxLine bounds one control line (INFO, PING, PONG, +OK, -ERR, MSG, HMSG),
	// INFO included.
	maxLine = 1 << 20
	// defaultMaxMsg bounds a delivered message's declared size when the server's
	// INFO announces no max_payload (or one above maxMsgCeiling).
	defaultMaxMsg = 8 << 20
	// maxMsgCeiling is the largest max_payload the guard believes: nats-server
	// refuses a larger one.
	maxMsgCeiling = 64 << 20
)

// errProtocol is returned from the guarded connection's Read when the server sends
// something outside the bounds; nats.go then drops the connection.
var errProtocol = errors.New("nats: protocol violation by the server")

// errAborted is what a write (or read) on an aborted connection returns.
var errAborted = errors.New("nats: connection aborted (context ended or publisher closed)")

// guardConn is the connection the adapter's dialer hands nats.go. It follows the
// NATS protocol's framing on the read side, bounding control lines and refusing a
// MSG or HMSG whose declared size is over the limit, before nats.go's parser
// allocates for it.
//
// nats.go reads the INFO line in plain text and then, for tls:// or a server that
// requires TLS, wraps the dialled connection in TLS itself, which would leave the
// guard below TLS, seeing ciphertext. So the dialer tells nats.go to skip its TLS
// handshake (SkipTLSHandshake) and the guard makes the same decision nats.go
// would (secure, or tls_required in the first INFO) and runs the handshake itself
// before the first byte after INFO; it always frames the plain-text stream.
//
// abort makes every later and pending write (and read) fail at once, whatever
// deadline nats.go sets afterwards: Close and a Publish whose context ends use it.
type guardConn struct {
	raw        net.Conn    // the TCP connection
	tlsConfig  *tls.Config // for the handshake; ServerName filled in
	secure     bool        // TLS wanted by the URLs (tls://) or the configuration
	maxMsg     atomic.Int64
	aborted    atomic.Bool
	mu         sync.Mutex // guards plain, upgrade, hsErr
	plain      net.Conn   // raw, or the TLS connection over it once upgraded
	upgrade    bool       // the first INFO is delivered and asks for TLS
	hsErr      error
	sawInfo    bool // read side only
	rd         frameReader
	closeOnce  sync.Once
	closeError error
}

func newGuardConn(raw net.Conn, secure bool, cfg *tls.Config, serverName string) *guardConn {
	g := &guardConn{raw: raw, secure: secure, plain: raw}
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	g.tlsConfig = cfg
	g.maxMsg.Store(defaultMaxMsg)
	g.rd.g = g
	return g
}

// stream returns the plain-text connection, running the TLS handshake first when
// the first INFO asked for it.
func (g *guardConn) stream() (net.Conn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.upgrade {
		g.upgrade = false
		tc := tls.Client(g.raw, g.tlsConfig)
		if err := tc.Handshake(); err != nil {
			g.hsErr = fmt.Errorf("tls: %w", err)
		} else {
			g.plain = tc
		}
	}
	if g.hsErr != nil {
		return nil, g.hsErr
	}
	return g.plain, nil
}

func (g *guardConn) Read(p []byte) (int, error) {
	if g.aborted.Load() {
		return 0, errAborted
	}
	return g.rd.Read(p)
}

func (g *guardConn) Write(p []byte) (int, error) {
	if g.aborted.Load() {
		return 0, errAborted
	}
	c, err := g.stream()
	if err != nil {
		return 0, err
	}
	n, err := c.Write(p)
	if err != nil && g.aborted.Load() {
		err = fmt.Errorf("%w: %w", errAborted, err)
	}
	return n, err
}

// abort fails every pending and later read and write on the connection.
func (g *guardConn) abort() {
	g.aborted.Store(true)
	_ = g.raw.SetDeadline(past)
}

// Close closes the TCP connection. It does not send TLS's close_notify, which could
// wait for a server that stopped reading.
func (g *guardConn) Close() error {
	g.closeOnce.Do(func() { g.closeError = g.raw.Close() })
	return g.closeError
}

func (g *guardConn) LocalAddr() net.Addr  { return g.raw.LocalAddr() }
func (g *guardConn) RemoteAddr() net.Addr { return g.raw.RemoteAddr() }

func (g *guardConn) SetDeadline(t time.Time) error      { return g.deadline(g.raw.SetDeadline, t) }
func (g *guardConn) SetReadDeadline(t time.Time) error  { return g.deadline(g.raw.SetReadDeadline, t) }
func (g *guardConn) SetWriteDeadline(t time.Time) error { return g.deadline(g.raw.SetWriteDeadline, t) }

// deadline sets a deadline nats.go asks for, unless the connection is aborted:
// then it stays in the past (checked again after, as abort may run meanwhile).
func (g *guardConn) deadline(set func(time.Time) error, t time.Time) error {
	if g.aborted.Load() {
		t = past
	}
	err := set(t)
	if g.aborted.Load() {
		_ = set(past)
	}
	return err
}

// past is a deadline that has passed.
var past = time.Unix(1, 0)

// The states of the frame reader.
const (
	inLine    = iota // collecting a control line
	inPayload        // passing a message's declared bytes through
	inTrailer        // after a payload, up to and including '\n' (nats.go skips it)
)

// frameReader hands the plain-text stream on as it follows its framing: a
// control line only once it is whole and checked, a message's payload as it comes.
type frameReader struct {
	g       *guardConn
	in      []byte // read from the stream; in[r:w] not yet looked at
	r, w    int
	readErr error
	state   int
	line    []byte // the control line being collected
	linePos int    // bytes of the trailer seen (inTrailer)
	payload int64  // bytes of the payload still to pass (inPayload)
	out     []byte // checked bytes not yet handed on
	err     error  // sticky
}

func (f *frameReader) Read(p []byte) (int, error) {
	for {
		if len(f.out) > 0 {
			n := copy(p, f.out)
			f.out = f.out[n:]
			return n, nil
		}
		if f.err != nil {
			return 0, f.err
		}
		if f.r == f.w {
			if f.readErr != nil {
				err := f.readErr
				f.readErr = nil
				return 0, err
			}
			c, err := f.g.stream()
			if err != nil {
				return 0, err
			}
			if f.in == nil {
				f.in = make([]byte, 32<<10)
			}
			n, err := c.Read(f.in)
			f.r, f.w = 0, n
			if err != nil && f.g.aborted.Load() {
				err = fmt.Errorf("%w: %w", errAborted, err)
			}
			if n == 0 {
				if err == nil {
					continue
				}
				return 0, err
			}
			f.readErr = err
		}
		f.step()
	}
}

// step moves what it can of in[r:w] to out (or to line).
func (f *frameReader) step() {
	avail := f.in[f.r:f.w]
	switch f.state {
	case inPayload:
		k := int(min(f.payload, int64(len(avail))))
		f.out = avail[:k]
		f.r += k
		f.payload -= int64(k)
		if f.payload == 0 {
			f.state, f.linePos = inTrailer, 0
		}
	case inTrailer:
		k := len(avail)
		if i := bytes.IndexByte(avail, '\n'); i >= 0 {
			k = i + 1
			f.state = inLine
		}
		f.linePos += k
		if f.linePos > maxLine {
			f.err = fmt.Errorf("%w: more than %d bytes after a message's payload without a line end", errProtocol, maxLine)
			return
		}
		f.out = avail[:k]
		f.r += k
	case inLine:
		if len(f.out) == 0 && len(f.line) > 0 && f.line[len(f.line)-1] == '\n' {
			f.line = f.line[:0] // the last line was handed on
			if cap(f.line) > 64<<10 {
				f.line = nil
			}
		}
		i := bytes.IndexByte(avail, '\n')
		k := len(avail)
		if i >= 0 {
			k = i + 1
		}
		if len(f.line)+k > maxLine {
			f.err = fmt.Errorf("%w: a control line longer than %d bytes", errProtocol, maxLine)
			return
		}
		f.line = append(f.line, avail[:k]...)
		f.r += k
		if i < 0 {
			return
		}
		if err := f.control(f.line); err != nil {
			f.err = err
			return
		}
		f.out = f.line
	}
}

// control checks a whole control line (with its '\n') and sets what follows it.
func (f *frameReader) control(line []byte) error {
	body := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
	if !f.g.sawInfo {
		f.g.sawInfo = true
		f.firstInfo(string(line))
		return nil
	}
	var hdr bool
	var args []byte
	switch {
	case opIs(body, "MSG"):
		args = body[3:]
	case opIs(body, "HMSG"):
		hdr, args = true, body[4:]
	case opIs(body, "INFO"):
		f.info(strings.TrimSpace(string(body[4:])))
		return nil
	default:
		return nil // nats.go refuses what it does not know
	}
	// nats.go's parser splits on blanks and CR and, for a CR inside the line,
	// drops a different byte depending on how the reads were split: refuse it.
	if bytes.IndexByte(args, '\r') >= 0 || bytes.IndexByte(args, '\n') >= 0 {
		return fmt.Errorf("%w: a carriage return inside a MSG line", errProtocol)
	}
	fields := bytes.FieldsFunc(args, func(r rune) bool { return r == ' ' || r == '\t' })
	n := len(fields)
	if hdr {
		n--
	}
	if n != 3 && n != 4 {
		return fmt.Errorf("%w: a malformed MSG line", errProtocol)
	}
	limit := f.g.maxMsg.Load()
	size, ok := parseSize(fields[len(fields)-1], limit)
	if !ok {
		return fmt.Errorf("%w: a message of %s bytes announced (the limit is %d)", errProtocol,
			excerpt(fields[len(fields)-1]), limit)
	}
	if _, ok := parseSize(fields[len(fields)-2], size); hdr && !ok {
		return fmt.Errorf("%w: a message header of %s bytes announced in a message of %d", errProtocol,
			excerpt(fields[len(fields)-2]), size)
	}
	f.payload = size
	if size == 0 {
		f.state, f.linePos = inTrailer, 0
	} else {
		f.state = inPayload
	}
	return nil
}

// firstInfo reads the first line the way nats.go's handshake does and decides on
// TLS as nats.go would: secure, or a server that requires it.
func (f *frameReader) firstInfo(line string) {
	toks := strings.SplitN(line, " ", 2)
	if len(toks) != 2 || strings.TrimSpace(toks[0]) != "INFO" {
		return // nats.go refuses it
	}
	tlsRequired := f.info(strings.TrimSpace(toks[1]))
	if !f.g.secure && !tlsRequired {
		return
	}
	if f.r != f.w {
		f.err = fmt.Errorf("%w: data after INFO before the TLS handshake", errProtocol)
		return
	}
	f.g.mu.Lock()
	f.g.upgrade = true
	f.g.mu.Unlock()
}

// info takes max_payload from an INFO's JSON and returns its tls_required.
func (f *frameReader) info(args string) (tlsRequired bool) {
	var info struct {
		MaxPayload  int64 `json:"max_payload"`
		TLSRequired bool  `json:"tls_required"`
	}
	if err := json.Unmarshal([]byte(args), &info); err != nil {
		return false
	}
	if info.MaxPayload > 0 && info.MaxPayload <= maxMsgCeiling {
		f.g.maxMsg.Store(info.MaxPayload)
	}
	return info.TLSRequired
}

// opIs reports whether line starts with op (any case) and a blank, as nats.go's
// parser recognises an operation.
func opIs(line []byte, op string) bool {
	return len(line) > len(op) && bytes.EqualFold(line[:len(op)], []byte(op)) &&
		(line[len(op)] == ' ' || line[len(op)] == '\t')
}

// parseSize parses a decimal size of at most limit; ok is false otherwise.
func parseSize(b []byte, limit int64) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= limit
}

// excerpt is at most 24 bytes of b, for an error.
func excerpt(b []byte) string {
	if len(b) > 24 {
		return fmt.Sprintf("%q…", b[:24])
	}
	return fmt.Sprintf("%q", b)
}

var _ io.Reader = (*frameReader)(nil)
