package httpc

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rawServer serves every request on 127.0.0.1 with answer, which writes whatever it
// likes to the connection; it returns the server's URL.
func rawServer(t *testing.T, answer func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() { // ends when the listener is closed
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // ends when answer returns
				defer func() { _ = nc.Close() }()
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				answer(nc)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// endless writes s until the peer goes away or 30 s pass.
func endless(nc net.Conn, s string) {
	_ = nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	b := []byte(strings.Repeat(s, 1024))
	for {
		if _, err := nc.Write(b); err != nil {
			return
		}
	}
}

// TestHostileAnswers: a server that answers with an endless body, an endless header
// or endless informational answers costs the client a bounded read and an error (or,
// for the body, the bounded excerpt), never all its memory or a send that does not end.
func TestHostileAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  func(nc net.Conn)
		wantErr string // empty: the call succeeds with the cut body
	}{
		{"endless chunked body", func(nc net.Conn) {
			_, _ = io.WriteString(nc, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			endless(nc, "8\r\nxxxxxxxx\r\n")
		}, ""},
		{"endless header line", func(nc net.Conn) {
			_, _ = io.WriteString(nc, "HTTP/1.1 200 OK\r\nX-Junk: ")
			endless(nc, "y")
		}, "answer header over"},
		{"endless 100 Continue", func(nc net.Conn) {
			endless(nc, "HTTP/1.1 100 Continue\r\n\r\n")
		}, "informational"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := rawServer(t, tc.answer)
			c, err := NewClient(0, TLSConfig{}) // no client timeout: only the bounds stop it
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background()) // cancelled at the end only
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("x"))
			require.NoError(t, err)
			done := make(chan struct{})
			var body []byte
			go func() { // ends when Do returns
				defer close(done)
				_, body, err = Do(c, req, 1024)
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Do kept reading a hostile answer")
			}
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Len(t, body, 1024, "the body is cut at the limit")
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
