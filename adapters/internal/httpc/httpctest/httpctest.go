// Package httpctest holds test HTTP/1.1 servers for the HTTP sinks: Answer, for the
// benchmarks, answers every request with one fixed answer and allocates next to
// nothing per request, so that a benchmark's allocations are the client's; Capture
// records each request's bytes for the wire-form tests.
package httpctest

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/edgerelay/edgerelay/adapters"
)

// Answer starts a server on 127.0.0.1 that reads each request (its header and a
// Content-Length body) and writes answer; it returns the server's base URL. The
// server stops when tb's test ends.
func Answer(tb testing.TB, answer string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	ans := []byte(answer)
	go func() { // ends when the listener is closed
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(nc, ans) // ends when the client closes the connection
		}
	}()
	return "http://" + ln.Addr().String()
}

func serve(nc net.Conn, answer []byte) {
	defer func() { _ = nc.Close() }()
	br := bufio.NewReader(nc)
	prefix := []byte("content-length:")
	for {
		n := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) > len(prefix) && bytes.EqualFold(line[:len(prefix)], prefix) {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(prefix):])))
			}
			if len(line) <= 2 {
				break
			}
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
		if _, err := nc.Write(answer); err != nil {
			return
		}
	}
}

// Capture starts a server on 127.0.0.1 that answers every request with answer and
// hands over each request's bytes as they arrived (its header and a Content-Length
// body), for tests that pin a sink's wire form; it returns the server's host:port.
// The server stops when tb's test ends.
func Capture(tb testing.TB, answer string) (string, <-chan []byte) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	got := make(chan []byte, 16)
	go func() { // ends when the listener is closed
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go capture(nc, answer, got) // ends when the client closes the connection
		}
	}()
	return ln.Addr().String(), got
}

func capture(nc net.Conn, answer string, got chan<- []byte) {
	defer func() { _ = nc.Close() }()
	br := bufio.NewReader(nc)
	for {
		var raw bytes.Buffer
		n := 0
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			raw.WriteString(line)
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && strings.EqualFold(k, "content-length") {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if line == "\r\n" {
				break
			}
		}
		if _, err := io.CopyN(&raw, br, int64(n)); err != nil {
			return
		}
		got <- raw.Bytes()
		if _, err := io.WriteString(nc, answer); err != nil {
			return
		}
	}
}

// BenchSend connects s and sends e through it b.N times under one long-lived context,
// as a lane does, reporting allocations: the sinks' BenchmarkSend against Answer.
func BenchSend(b *testing.B, s adapters.Sink, e *adapters.Event) {
	b.Helper()
	if err := s.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	ctx, cancel := context.WithCancel(context.Background()) // a lane's long-lived send context
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}
