package kafka

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// frame is one Kafka response: the 4-byte length, then the payload.
func frame(payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	return append(b, payload...)
}

// TestLimitedConnPassesFramesThrough: responses at or under the limit reach the
// reader byte for byte, also read one byte at a time and across an empty
// response.
func TestLimitedConnPassesFramesThrough(t *testing.T) {
	for _, size := range []int{1, 4096} {
		a, b := net.Pipe()
		t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
		want := append(append(frame([]byte("abc")), frame(nil)...), frame(make([]byte, 64))...)
		go func() { _, _ = b.Write(want); _ = b.Close() }()
		c := &limitedConn{Conn: a, limit: 64}
		var got []byte
		buf := make([]byte, size)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
		}
		require.Equal(t, want, got, "buffer of %d", size)
	}
}

// TestLimitedConnRefusesLargeResponse: a declared length over the limit fails the
// read before anything of it is handed on, and every later read.
func TestLimitedConnRefusesLargeResponse(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { _ = b.Close() })
	go func() { _, _ = b.Write(append(frame([]byte("ok")), binary.BigEndian.AppendUint32(nil, 100<<20)...)) }()
	c := &limitedConn{Conn: a, limit: 1 << 20}
	got, err := io.ReadAll(io.LimitReader(c, 6))
	require.NoError(t, err)
	require.Equal(t, frame([]byte("ok")), got)
	n, err := c.Read(make([]byte, 8))
	require.Zero(t, n)
	require.ErrorIs(t, err, ErrResponseTooLarge)
	require.Contains(t, err.Error(), "declared 104857600 bytes, over this adapter's limit of 1048576")
	_, err = c.Read(make([]byte, 8))
	require.ErrorIs(t, err, ErrResponseTooLarge, "sticky")
}

// TestConnectRefusesHugeResponse is the reviewer's finding: anything answering on
// the broker address could make sarama allocate 100 MiB (sarama.MaxResponseSize)
// per response. The adapter refuses a declared length over MaxResponseBytes, and
// Connect fails saying so.
func TestConnectRefusesHugeResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [4]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				_, _ = io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:])))
				// A response claiming 100 MiB, correlation id 0, then nothing.
				_, _ = c.Write(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 100<<20), 0))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	p := newPub(t, []string{ln.Addr().String()}, auth{})
	err = returns(t, "Connect", func() error { return p.Connect(ctx30(t)) })
	require.Error(t, err)
	t.Log(err)
	require.Contains(t, err.Error(), "kafka response too large")
}
