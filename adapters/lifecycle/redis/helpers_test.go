package redis

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// machineRedis is the machine's Redis (no password).
const machineRedis = "127.0.0.1:6379"

// needRedis skips (fails under CI) when the machine's Redis is down.
func needRedis(t *testing.T) {
	t.Helper()
	adaptertest.NeedService(t, "Redis", machineRedis)
}

// build makes a publisher from YAML-ish settings and env, through the Config as the
// daemon uses it.
func build(t *testing.T, edit func(c *Config), env map[string]string) lifecycle.Publisher {
	t.Helper()
	c := NewConfig()
	if edit != nil {
		edit(c)
	}
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(env)))
	require.NoError(t, c.Validate())
	p, err := c.Build(lifecycle.Deps{
		Log: slog.New(slog.DiscardHandler), Clock: clock.Real, Version: "test",
		Env: lifecycle.MapEnv(env),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// byURL builds a publisher for url (EVENT_BROKER_REDIS_URL).
func byURL(t *testing.T, url string) lifecycle.Publisher {
	t.Helper()
	return build(t, nil, map[string]string{EnvURL: url})
}

// ctx30 is the test's context bounded to 30s, so that a broken publisher fails the
// test instead of hanging it.
func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// subscribe opens a raw RESP connection of the test's own to addr, sends cmd
// (PSUBSCRIBE edge.* or SUBSCRIBE <channel>), waits for the confirmation and returns
// the messages as they arrive.
func subscribe(t *testing.T, addr string, cmd ...string) <-chan lifecycletest.Received {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	rd := bufio.NewReaderSize(conn, 1<<16)
	_, err = conn.Write(appendCommand(nil, toBytes(cmd)...))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	conf, err := readArray(rd)
	require.NoError(t, err)
	require.Equal(t, strings.ToLower(cmd[0]), conf[0], "subscription confirmed")
	require.NoError(t, conn.SetReadDeadline(time.Time{}))

	ch := make(chan lifecycletest.Received, 64)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	// Reads until the connection is closed at the end of the test.
	go func() {
		defer wg.Done()
		defer close(ch)
		for {
			a, err := readArray(rd)
			if err != nil {
				return
			}
			var r lifecycletest.Received
			switch {
			case len(a) == 4 && a[0] == "pmessage":
				r = lifecycletest.Received{Where: a[2], Body: []byte(a[3])}
			case len(a) == 3 && a[0] == "message":
				r = lifecycletest.Received{Where: a[1], Body: []byte(a[2])}
			default:
				continue
			}
			select {
			case ch <- r:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		_ = conn.Close()
		wg.Wait()
	})
	return ch
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// readArray reads one RESP array of bulk strings and integers (a subscriber's push),
// independently of the publisher's reader.
func readArray(rd *bufio.Reader) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for range n {
		line, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		switch line[0] {
		case ':':
			out = append(out, strings.TrimSpace(line[1:]))
		case '$':
			size, err := strconv.Atoi(strings.TrimSpace(line[1:]))
			if err != nil {
				return nil, err
			}
			b := make([]byte, size+2)
			if _, err := io.ReadFull(rd, b); err != nil {
				return nil, err
			}
			out = append(out, string(b[:size]))
		default:
			return nil, fmt.Errorf("unexpected %q", line)
		}
	}
	return out, nil
}

// receive waits for one message on ch.
func receive(t *testing.T, ch <-chan lifecycletest.Received) lifecycletest.Received {
	t.Helper()
	select {
	case r, ok := <-ch:
		require.True(t, ok, "subscriber connection ended")
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no message arrived")
	}
	return lifecycletest.Received{}
}

// redisServer starts a private redis-server with args on a free port for the test
// and returns its address; it is killed when the test ends. tlsPort makes the port
// a TLS port (args then carry the certificate settings).
func redisServer(t *testing.T, tlsPort bool, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		adaptertest.Missing(t, "needs /usr/bin/redis-server for a private server with a password or TLS (%v)", err)
	}
	addr := lifecycletest.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	base := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir()}
	if tlsPort {
		base = append(base, "--port", "0", "--tls-port", port)
	} else {
		base = append(base, "--port", port)
	}
	logf := filepath.Join(t.TempDir(), "redis.log")
	cmd := exec.Command(bin, append(base, args...)...)
	out, err := os.Create(logf)
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = out.Close()
	})
	// Wait until it listens (or has exited).
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf)
			t.Fatalf("redis-server %v did not listen on %s: %v\n%s", args, addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fakeServer is a TCP server of the test's own that answers each read of a command
// with the next of replies (nothing at all for an empty one, keeping the connection
// open), for malformed and oversized replies a real Redis never sends.
func fakeServer(t *testing.T, replies ...[]byte) string {
	t.Helper()
	addr, _ := fakeServerReads(t, replies...)
	return addr
}

// fakeServerReads is fakeServer that also tells of each command read (a channel
// with room for every reply).
func fakeServerReads(t *testing.T, replies ...[]byte) (string, <-chan struct{}) {
	t.Helper()
	reads := make(chan struct{}, len(replies))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	// Serves until the listener and the connection are closed at the end of the test.
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { <-done; _ = conn.Close() }()
		buf := make([]byte, 1<<16)
		for _, r := range replies {
			if _, err := conn.Read(buf); err != nil {
				return
			}
			reads <- struct{}{}
			if len(r) == 0 {
				<-done
				return
			}
			if _, err := conn.Write(r); err != nil {
				return
			}
		}
		_, _ = io.Copy(io.Discard, conn)
	}()
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String(), reads
}
