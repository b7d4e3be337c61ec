package httpc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
)

// The fast path reads an answer's header itself when it is in the plain form
// servers send (see parseHead): net/http.ReadResponse costs about five allocations
// (the textproto reader, the header map, its strings, the body reader) that a sink,
// which reads the status and at most a field or two, does not need. It reads from
// bytes already in the connection's buffer, so that anything else, an unusual but
// valid answer included, is left untouched to http.ReadResponse.

// answer is an answer's header as the fast path read it.
type answer struct {
	code   int
	length int64          // of the body; -1: until the connection closes
	close  bool           // as http.Response.Close: the server closes the connection
	http10 bool           // an HTTP/1.0 answer: its connection is never kept
	raw    string         // the header as read, status line first, when kept
	resp   *http.Response // the answer as http.ReadResponse read it, when it did
}

// readAnswer reads the header of the next answer to the request from br.
func readAnswer(br *bufio.Reader, std *http.Request, light *Request) (answer, error) {
	if buf, ok := peekHead(br); ok {
		if a, ok := parseHead(buf, std, light); ok {
			_, _ = br.Discard(len(buf))
			return a, nil
		}
	}
	if std == nil {
		std = &http.Request{Method: light.Target.method} // what http.ReadResponse reads of it
	}
	resp, err := http.ReadResponse(br, std)
	if err != nil {
		return answer{}, err
	}
	return answer{code: resp.StatusCode, length: resp.ContentLength, resp: resp,
		close: resp.Close, http10: !resp.ProtoAtLeast(1, 1)}, nil
}

// peekHead returns the start of br's buffer up to and including the empty line that
// ends the header there, without consuming it. It reports false when the header does
// not fit in the buffer or a read failed: http.ReadResponse then meets the failure.
func peekHead(br *bufio.Reader) ([]byte, bool) {
	for n := 1; ; {
		if _, err := br.Peek(n); err != nil {
			return nil, false
		}
		buf, _ := br.Peek(br.Buffered())
		if end := headEnd(buf); end > 0 {
			return buf[:end], true
		}
		if len(buf) == br.Size() {
			return nil, false
		}
		n = len(buf) + 1
	}
}

// headEnd returns the length of the header at the start of b, through its empty
// line ("\n\n" or "\n\r\n"), or 0 when b does not hold all of it.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		k := i + j + 1
		switch {
		case k < len(b) && b[k] == '\n':
			return k + 1
		case k+1 < len(b) && b[k] == '\r' && b[k+1] == '\n':
			return k + 2
		}
		i = k
	}
}

// parseHead parses head, a whole header, when it has the plain form: an
// "HTTP/1.1 200 reason" or HTTP/1.0 status line, "Name: value" lines ended by CRLF,
// names made of token characters, values of visible characters, spaces and tabs, at
// most one Content-Length (or several equal ones) and no Transfer-Encoding. It reports
// false for anything else (folded lines, chunked bodies and so on), which
// http.ReadResponse reads instead. The rules for the body and the connection are
// net/http's.
func parseHead(head []byte, std *http.Request, light *Request) (answer, bool) {
	line, rest, ok := cutCRLF(head)
	if !ok || len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
		line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return answer{}, false
	}
	a := answer{length: -1, http10: line[7] == '0'}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return answer{}, false
		}
		a.code = a.code*10 + int(c-'0')
	}
	if a.code < 100 {
		return answer{}, false
	}
	var cl []byte
	lengths, hasClose, keepAlive := 0, false, false
	for {
		if line, rest, ok = cutCRLF(rest); !ok {
			return answer{}, false
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := cutField(line)
		if !ok {
			return answer{}, false
		}
		switch {
		case equalFold(name, "content-length"):
			if len(value) == 0 {
				return answer{}, false // net/http refuses an empty length, also beside a valid one
			}
			if cl != nil && !bytes.Equal(cl, value) {
				return answer{}, false // net/http refuses differing lengths
			}
			cl = value
			lengths++
		case equalFold(name, "transfer-encoding"):
			return answer{}, false
		case equalFold(name, "connection"):
			hasClose = hasClose || hasToken(value, "close")
			keepAlive = keepAlive || hasToken(value, "keep-alive")
		}
	}
	a.close = hasClose || (a.http10 && !keepAlive)
	n := int64(-1)
	if cl != nil {
		if n, ok = parseLength(cl); !ok {
			return answer{}, false
		}
	}
	switch {
	case requestMethod(std, light) == http.MethodHead || a.code < 200 || a.code == http.StatusNoContent || a.code == http.StatusNotModified:
		a.length = 0
	case n >= 0:
		a.length = n
	default:
		a.close = true // the body ends with the connection
	}
	if header, _ := keeps(light, a.code); header {
		a.raw = keptHead(head, hasClose && !a.http10, lengths > 1)
	}
	return a, true
}

// keptHead returns head as http.ReadResponse leaves its header: without the
// Connection fields when they ask to close an HTTP/1.1 connection, with one
// Content-Length of several.
func keptHead(head []byte, dropConnection, oneLength bool) string {
	if !dropConnection && !oneLength {
		return string(head)
	}
	var b strings.Builder
	seenLength := false
	for line := range strings.SplitAfterSeq(string(head), "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch {
		case dropConnection && strings.EqualFold(name, "connection"):
			continue
		case oneLength && strings.EqualFold(name, "content-length"):
			if seenLength {
				continue
			}
			seenLength = true
		}
		b.WriteString(line)
	}
	return b.String()
}

// cutCRLF cuts b after its first line, which must end with CRLF and hold no other
// CR or LF.
func cutCRLF(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' || bytes.IndexByte(b[:i-1], '\r') >= 0 {
		return nil, nil, false
	}
	return b[:i-1], b[i+1:], true
}

// cutField splits a header line into its name, a token right before the colon, and
// its value without the white space around it.
func cutField(line []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i < 1 {
		return nil, nil, false
	}
	name, value = line[:i], line[i+1:]
	for _, c := range name {
		if !tokenChar(c) {
			return nil, nil, false
		}
	}
	for _, c := range value {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return nil, nil, false
		}
	}
	return name, bytes.Trim(value, " \t"), true
}

func tokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c < 0x80 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// equalFold reports whether b is s (lower case) in any case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds tok (lower case) in any
// case.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte{','})
		if equalFold(bytes.Trim(t, " \t"), tok) {
			return true
		}
	}
	return false
}

// parseLength parses a Content-Length of decimal digits that fits in 63 bits.
func parseLength(b []byte) (int64, bool) {
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
	return n, true
}

// rawGet returns the first value of the field name (any case) in raw, a header
// parseHead accepted, or "".
func rawGet(raw, name string) string {
	_, raw, _ = strings.Cut(raw, "\r\n") // the status line
	for raw != "" {
		var line string
		line, raw, _ = strings.Cut(raw, "\r\n")
		k, v, _ := strings.Cut(line, ":")
		if strings.EqualFold(k, name) {
			return strings.Trim(v, " \t")
		}
	}
	return ""
}

// header returns raw's fields as http.ReadResponse would have put them.
func rawHeader(raw string) http.Header {
	h := make(http.Header)
	_, raw, _ = strings.Cut(raw, "\r\n")
	for raw != "" {
		var line string
		line, raw, _ = strings.Cut(raw, "\r\n")
		if k, v, ok := strings.Cut(line, ":"); ok {
			k = http.CanonicalHeaderKey(k)
			h[k] = append(h[k], strings.Trim(v, " \t"))
		}
	}
	return h
}

// readFixed reads a body of n bytes from br: the first limit bytes into body when
// keep, else discarded, and the rest discarded when it is shorter than drainLimit.
// reuse reports whether the body was read to its end. A body that breaks off is
// io.ErrUnexpectedEOF, as net/http reports it.
func readFixed(br *bufio.Reader, n, limit int64, keep bool) (body []byte, reuse bool, err error) {
	first := min(n, limit)
	switch {
	case first == 0:
	case keep:
		body = make([]byte, first)
		m, err := io.ReadFull(br, body)
		if err != nil {
			return body[:m], false, unexpectedEOF(err)
		}
	default:
		if _, err := br.Discard(int(first)); err != nil {
			return nil, false, unexpectedEOF(err)
		}
	}
	rest := n - first
	if rest >= drainLimit {
		return body, false, nil // too long to drain: the connection goes instead
	}
	if _, err := br.Discard(int(rest)); err != nil {
		return body, false, unexpectedEOF(err)
	}
	return body, true, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readBody reads at most limit bytes of body and discards up to drainLimit more.
// reuse reports whether body was read to its end.
func readBody(body io.Reader, limit int64) (b []byte, reuse bool, err error) {
	b, err = io.ReadAll(io.LimitReader(body, limit))
	if err != nil || int64(len(b)) < limit {
		return b, err == nil, err
	}
	n, err := io.CopyN(io.Discard, body, drainLimit)
	switch {
	case err == io.EOF:
		return b, true, nil
	case err == nil || n == drainLimit:
		return b, false, nil // too long to drain: the connection goes instead
	}
	return b, false, err
}
