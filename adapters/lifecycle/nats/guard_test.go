package nats

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

const hostileInfo = `INFO {"server_id":"hostile","version":"2.15.2","proto":1,"headers":true,"max_payload":1048576}`

// hostileServer is a NATS server that greets with info, then (with cert set)
// runs the TLS upgrade, answers the handshake's PING with PONG, and then sends
// after and keeps the connection open. It stops when the test ends.
func hostileServer(t *testing.T, info string, cert *tls.Certificate, after string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			func() {
				defer raw.Close()
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					select {
					case <-t.Context().Done():
					case <-stop:
					}
					_ = raw.Close()
				}()
				var c net.Conn = raw
				if _, err := io.WriteString(c, info+"\r\n"); err != nil {
					return
				}
				if cert != nil {
					tc := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
					if tc.Handshake() != nil {
						return
					}
					c = tc
				}
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(l, "PING") {
						if _, err := io.WriteString(c, "PONG\r\n"+after); err != nil {
							return
						}
						_, _ = io.Copy(io.Discard, r) // until the client goes
						return
					}
				}
			}()
		}
	}()
	return "nats://" + ln.Addr().String()
}

// waitLost waits until p's connection is gone and returns the error nats.go
// dropped it with.
func waitLost(t *testing.T, p *Publisher) error {
	t.Helper()
	p.mu.Lock()
	nc := p.nc
	p.mu.Unlock()
	require.NotNil(t, nc)
	deadline := time.Now().Add(20 * time.Second)
	for nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("the connection was not dropped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c"))
	require.ErrorIs(t, err, ErrNotConnected)
	return nc.LastError()
}

// TestHostileMessage: a server that announces a message over the limit (once a
// size that made nats.go's parser panic with "makeslice: cap out of range" in its
// read goroutine, crashing the process) or a control line over the bound gets
// its connection dropped; the process lives on. Over nats:// and over tls://, where
// the guard must see the plain text under TLS.
func TestHostileMessage(t *testing.T) {
	cert, roots := testPKI(t)
	for _, tc := range []struct {
		name, info, after string
	}{
		{"HugeMSG", hostileInfo, "MSG x 1 1125899906842624\r\nab"},
		{"HugeHMSG", hostileInfo, "HMSG x 1 12 1125899906842624\r\nab"},
		{"HugeMSGWithReply", hostileInfo, "msg x 1 r 4294967297\r\nab"},
		{"OverflowingSize", hostileInfo, "MSG x 1 99999999999999999999999999\r\nab"},
		{"OverMaxPayload", hostileInfo, "MSG x 1 1048577\r\nab"},
		{"OverDefaultWithoutMaxPayload", `INFO {"server_id":"hostile","proto":1,"headers":true}`, fmt.Sprintf("MSG x 1 %d\r\nab", defaultMaxMsg+1)},
		{"UnbelievableMaxPayload", `INFO {"server_id":"hostile","proto":1,"headers":true,"max_payload":1125899906842624}`, "MSG x 1 1125899906842624\r\nab"},
		{"HeaderOverTotal", hostileInfo, "HMSG x 1 20 10\r\nab"},
		{"CarriageReturnInMSG", hostileInfo, "MSG x 1 5\r 1125899906842624\r\nab"},
		{"EndlessINFO", hostileInfo, "INFO {" + strings.Repeat("x", maxLine+10)},
		{"EndlessERR", hostileInfo, "-ERR " + strings.Repeat("x", maxLine+10)},
		{"EndlessTrailer", hostileInfo, "MSG x 1 2\r\nab" + strings.Repeat("x", maxLine+10)},
	} {
		for _, scheme := range []string{"nats", "tls"} {
			t.Run(tc.name+"/"+scheme, func(t *testing.T) {
				var c *tls.Certificate
				info := tc.info
				if scheme == "tls" {
					c = &cert
					info = strings.Replace(info, `"proto":1`, `"proto":1,"tls_required":true`, 1)
				}
				url := hostileServer(t, info, c, tc.after)
				url = strings.Replace(url, "nats://", scheme+"://", 1)
				p := newPublisher(t, &Config{URLs: []string{url}})
				p.tlsConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
				require.NoError(t, p.Connect(t.Context()))
				if scheme == "tls" {
					p.mu.Lock()
					g := p.conn
					p.mu.Unlock()
					g.mu.Lock()
					_, ok := g.plain.(*tls.Conn)
					g.mu.Unlock()
					require.True(t, ok, "the guard is not over TLS")
				}
				err := waitLost(t, p)
				require.ErrorIs(t, err, errProtocol)
				require.NoError(t, p.Close())
			})
		}
	}
}

// TestHostileHandshake: an INFO line without an end during the handshake (nats.go
// appends it without a bound) fails Connect.
func TestHostileHandshake(t *testing.T) {
	url := hostileServer(t, "INFO {"+strings.Repeat("x", maxLine+10), nil, "")
	p := newPublisher(t, &Config{URLs: []string{url}})
	err := p.Connect(t.Context())
	require.Error(t, err)
	require.Contains(t, err.Error(), errProtocol.Error())
}

// TestMessageWithinLimit: a message up to the limit reaches nats.go whole: a
// subscriber on a guarded connection receives it, over nats:// and tls://.
func TestMessageWithinLimit(t *testing.T) {
	cert, roots := testPKI(t)
	s := runServer(t, &server.Options{
		TLS: true, TLSTimeout: 5, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		MaxPayload: 256 << 10,
	})
	for _, scheme := range []string{"nats", "tls"} { // nats:// is upgraded: the server requires TLS
		t.Run(scheme, func(t *testing.T) {
			url := strings.Replace(s.ClientURL(), "nats://", scheme+"://", 1)
			p := newPublisher(t, &Config{URLs: []string{url}})
			p.tlsConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
			require.NoError(t, p.Connect(t.Context()))
			p.mu.Lock()
			nc := p.nc
			p.mu.Unlock()
			sub, err := nc.SubscribeSync("edge.>")
			require.NoError(t, err)
			body := bytes.Repeat([]byte("0123456789abcdef"), (256<<10)/16-64)
			m := lifecycletest.Message("edge.node.started", "id-1", "c")
			m.Body = body
			require.NoError(t, p.Publish(t.Context(), m))
			got, err := sub.NextMsg(20 * time.Second)
			require.NoError(t, err)
			require.Equal(t, body, got.Data)
			require.Equal(t, "c", got.Header.Get("corename"))
		})
	}
}

// TestFrameReader: the guard hands the stream on byte for byte however the reads
// are split, and stops at the first line it refuses.
func TestFrameReader(t *testing.T) {
	good := "INFO {\"max_payload\":64}\r\n" +
		"PING\r\n+OK\r\nPONG\r\n" +
		"MSG a.b 1 5\r\nhello\r\n" +
		"MSG a.b 1 r 0\r\n\r\n" +
		"HMSG a.b 2 12 17\r\nNATS/1.0\r\n\r\nhello\r\n" +
		"MSG a.b 1 3\r\nMSG\r\n" + // a payload that looks like a line
		"-ERR 'x'\r\n" +
		"INFO {\"max_payload\":8}\r\n" + // the limit follows the server's INFO
		"msg a 1 8\r\n12345678\r\n"
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"Whole":    func(r io.Reader) io.Reader { return r },
		"OneByte":  iotest.OneByteReader,
		"HalfRead": iotest.HalfReader,
	} {
		t.Run(name, func(t *testing.T) {
			out, err := readGuarded(wrap(strings.NewReader(good)))
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, good, out)

			bad := good + "MSG a 1 9\r\n123456789\r\n"
			out, err = readGuarded(wrap(strings.NewReader(bad)))
			require.ErrorIs(t, err, errProtocol)
			require.Equal(t, good, out)
		})
	}
}

// readGuarded reads r through a guard as nats.go does and returns what came out.
func readGuarded(r io.Reader) (string, error) {
	client, srv := net.Pipe()
	defer client.Close()
	go func() {
		_, _ = io.Copy(srv, r)
		_ = srv.Close()
	}()
	g := newGuardConn(client, false, nil, "")
	var out bytes.Buffer
	buf := make([]byte, 7)
	for {
		n, err := g.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String(), err
		}
	}
}

// TestGuardAbort: after abort, reads and writes fail at once, whatever deadline
// is set afterwards.
func TestGuardAbort(t *testing.T) {
	client, srv := net.Pipe()
	defer srv.Close()
	g := newGuardConn(client, false, nil, "")
	defer g.Close()
	g.abort()
	require.NoError(t, g.SetWriteDeadline(time.Now().Add(time.Hour)))
	_, err := g.Write([]byte("PUB x 1\r\na\r\n"))
	require.True(t, errors.Is(err, errAborted), "%v", err)
	_, err = g.Read(make([]byte, 8))
	require.True(t, errors.Is(err, errAborted), "%v", err)
}
