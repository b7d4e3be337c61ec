// Package httpctest is a test HTTP/1.1 server for the benchmarks of the HTTP sinks:
// it answers every request with one fixed answer and allocates next to nothing per
// request, so that a benchmark's allocations are the client's.
package httpctest

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
	"testing"
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
