package redis

import (
	"github.com/edgerelay/edgerelay/adapters/secret"

	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The bounds of a reply. The commands the publisher sends (AUTH, SELECT, PING,
// PUBLISH) are answered with a short status, error or integer; anything longer is not
// a Redis server speaking to us, and reading it whole could exhaust a router's memory.
const (
	// maxLine is the longest reply line, CRLF included: the size of the read buffer.
	maxLine = 4096
	// maxBulk is the longest bulk string reply.
	maxBulk = 4096
)

// ErrProtocol marks a reply that is not RESP2, or larger than the bounds above. The
// connection is out of step after one and is dropped.
var ErrProtocol = errors.New("malformed redis reply")

// ServerError is an error reply of the server ("-WRONGPASS invalid username-password
// pair"): the command was refused, the connection is still in step.
type ServerError struct {
	// Command is the command that was refused (AUTH, SELECT, PING, PUBLISH).
	Command string
	// Msg is the server's message, without the leading '-', bounded.
	Msg string
}

func (e *ServerError) Error() string { return fmt.Sprintf("redis %s: %s", e.Command, e.Msg) }

// Code returns the error's first word (WRONGPASS, NOAUTH, ERR).
func (e *ServerError) Code() string {
	code, _, _ := bytes.Cut([]byte(e.Msg), []byte(" "))
	return string(code)
}

// reply is one RESP2 reply the publisher understands.
type reply struct {
	kind byte   // '+', '-', ':' or '$'
	str  string // a status, an error's text or a bulk string
	n    int64  // an integer
	null bool   // a null bulk string ($-1)
}

// appendCommand appends args as a RESP2 array of bulk strings.
func appendCommand(b []byte, args ...[]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// readReply reads one reply from r, whose buffer is maxLine bytes. An array, a line
// longer than the buffer, a bulk string longer than maxBulk or bytes that are not
// RESP2 are ErrProtocol; a read error is returned as it is.
func readReply(r *bufio.Reader) (reply, error) {
	line, err := readLine(r)
	if err != nil {
		return reply{}, err
	}
	if len(line) == 0 {
		return reply{}, fmt.Errorf("%w: empty line", ErrProtocol)
	}
	rep := reply{kind: line[0]}
	body := line[1:]
	switch rep.kind {
	case '+', '-':
		rep.str = string(body)
	case ':':
		if rep.n, err = strconv.ParseInt(string(body), 10, 64); err != nil {
			return reply{}, fmt.Errorf("%w: integer %q", ErrProtocol, excerpt(body))
		}
	case '$':
		n, err := strconv.ParseInt(string(body), 10, 64)
		switch {
		case err != nil || n < -1:
			return reply{}, fmt.Errorf("%w: bulk length %q", ErrProtocol, excerpt(body))
		case n == -1:
			rep.null = true
			return rep, nil
		case n > maxBulk:
			return reply{}, fmt.Errorf("%w: bulk string of %d bytes (at most %d expected)", ErrProtocol, n, maxBulk)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return reply{}, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return reply{}, fmt.Errorf("%w: bulk string not ended by CRLF", ErrProtocol)
		}
		rep.str = string(buf[:n])
	case '*':
		return reply{}, fmt.Errorf("%w: an array where a single reply was expected", ErrProtocol)
	default:
		return reply{}, fmt.Errorf("%w: unknown type byte %q", ErrProtocol, rep.kind)
	}
	return rep, nil
}

// readLine reads a CRLF-terminated line of at most maxLine bytes and returns it
// without the CRLF. The slice is only valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: a reply line longer than %d bytes", ErrProtocol, maxLine)
	}
	if err != nil {
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: a line not ended by CRLF", ErrProtocol)
	}
	return line[:len(line)-2], nil
}

// excerpt bounds a piece of a malformed reply quoted in an error: at a character
// boundary, with every known secret redacted (a hostile server may echo the AUTH).
func excerpt(b []byte) string { return secret.Excerpt(string(b), 32) }
