package webhook

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
)

// captureServer answers every request on 127.0.0.1 with answer and hands over each
// request's bytes as they arrived.
func captureServer(t *testing.T, answer string) (string, <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan []byte, 16)
	go func() { // ends when the listener is closed
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // ends when the client closes the connection
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
			}()
		}
	}()
	return ln.Addr().String(), got
}

// TestWireBytes pins the exact bytes of a webhook request on the wire: the request
// line, Host, User-Agent, Content-Length, then the header fields in name order (as
// net/http writes them), then the payload.
func TestWireBytes(t *testing.T) {
	addr, got := captureServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	cfg := DefaultConfig()
	cfg.URL = "http://" + addr + "/hook?x=1"
	cfg.Headers = map[string]string{"X-Site": "plant-7", "a-first": "1"}
	cfg.AuthHeader = "X-Api-Key"
	cfg.AuthValue = "s3cret-key"
	s := newSink(t, cfg)
	e := &adapters.Event{ID: "01J0000000000000000000000", Kind: adapters.KindAlert, Key: "pump-7", Source: "plant-mqtt",
		Topic: "plant/pump/7", Payload: []byte(`{"summary":"pump 7 down"}`),
		Attrs: map[string]string{"header.x-alerta-loop": "gw-1", "header.X-Site": "lost", "mqtt.qos": "1"}}
	for range 2 { // a new connection, then the kept one
		require.NoError(t, s.Send(context.Background(), e))
		raw := <-got
		if d := os.Getenv("WIRE_DUMP"); d != "" {
			_ = os.WriteFile(d+"/webhook", raw, 0o600)
		}
		require.Equal(t, "POST /hook?x=1 HTTP/1.1\r\n"+
			"Host: "+addr+"\r\n"+
			"User-Agent: edgerelay/test\r\n"+
			"Content-Length: 25\r\n"+
			"A-First: 1\r\n"+
			"Content-Type: application/json\r\n"+
			"X-Alerta-Loop: gw-1\r\n"+
			"X-Api-Key: s3cret-key\r\n"+
			"X-Edgerelay-Event-Id: 01J0000000000000000000000\r\n"+
			"X-Edgerelay-Key: pump-7\r\n"+
			"X-Edgerelay-Source: plant-mqtt\r\n"+
			"X-Edgerelay-Topic: plant/pump/7\r\n"+
			"X-Site: plant-7\r\n"+
			"\r\n"+
			`{"summary":"pump 7 down"}`, string(raw))
	}
}
