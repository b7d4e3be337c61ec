package httpc

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// writeRequest writes req to w as http.Request.Write does, for the plain requests
// sinks send (a known Content-Length, header names and values without control
// characters, an ASCII host), without the allocations of its formatted writes. Any
// other request goes through req.Write.
func writeRequest(w *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	if !plainRequest(req, host, hasBody) {
		return req.Write(w)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	if _, ok := req.Header["User-Agent"]; !ok {
		w.WriteString("User-Agent: Go-http-client/1.1\r\n")
	}
	if req.Close {
		w.WriteString("Connection: close\r\n")
	}
	if hasBody || req.ContentLength > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		w.WriteString("Content-Length: ")
		w.Write(appendInt(w.AvailableBuffer(), req.ContentLength))
		w.WriteString("\r\n")
	}
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	_, err := w.WriteString("\r\n")
	if !hasBody || err != nil {
		return err
	}
	return copyBody(w, req.Body, req.ContentLength)
}

// copyBody writes exactly n bytes of body to w through w's own buffer and closes
// body.
func copyBody(w *bufio.Writer, body io.ReadCloser, n int64) error {
	defer body.Close()
	for left := n; left > 0; {
		if w.Available() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		buf := w.AvailableBuffer()[:min(int64(w.Available()), left)]
		m, err := body.Read(buf)
		if _, werr := w.Write(buf[:m]); werr != nil {
			return werr
		}
		left -= int64(m)
		if err == io.EOF && left > 0 {
			return fmt.Errorf("http: ContentLength=%d with Body length %d", n, n-left)
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// plainRequest reports whether writeRequest may write req itself.
func plainRequest(req *http.Request, host string, hasBody bool) bool {
	if req.URL.Opaque != "" || len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 || req.ContentLength < 0 ||
		(hasBody && req.ContentLength == 0) || host == "" || !plainText(host, true) || strings.ContainsAny(host, " \t") {
		return false
	}
	for k, vs := range req.Header {
		if k == "" || !plainText(k, false) {
			return false
		}
		for _, v := range vs {
			if !plainText(v, true) {
				return false
			}
		}
	}
	return true
}

// plainText reports whether s is printable ASCII; a value may also have spaces and
// tabs inside, a name (and a host) none.
func plainText(s string, value bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c > ' ' && c < 0x7f && (value || c != ':'):
		case value && (c == ' ' || c == '\t') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

func appendInt(b []byte, n int64) []byte {
	if n == 0 {
		return append(b, '0')
	}
	var d [20]byte
	i := len(d)
	for ; n > 0; n /= 10 {
		i--
		d[i] = byte('0' + n%10)
	}
	return append(b, d[i:]...)
}
