package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/logx"
)

// counts is the broker's reject counter, by reason.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) inc(reason string) {
	c.mu.Lock()
	c.m[reason]++
	c.mu.Unlock()
}

func (c *counts) get(reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[reason]
}

// TestAttackerLoopIsCountedNotLogged: thousands of CONNECTs with wrong passwords from
// a real MQTT client, oversize PUBLISHes and malformed and out-of-order packets give
// a bounded number of log lines, none without a message or with the password, each
// rejected attempt is counted under its reason, and the flush accounts for the
// suppressed lines.
func TestAttackerLoopIsCountedNotLogged(t *testing.T) {
	const (
		badLogins = 2000
		oversize  = 100
		malformed = 300
		early     = 300
		password  = "correct-horse"
		guess     = "guessed-battery-staple"
	)
	log := &adaptertest.LogLines{}
	b, err := New(Config{
		Listen: "127.0.0.1:0", Enabled: EnabledTrue, Anonymous: AnonymousNever, MaxMessageBytes: 1024,
		Users: []User{{Username: "dev", Password: password}},
	}, slog.New(log))
	require.NoError(t, err)
	fake := clocktest.NewFake(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	lim := logx.New(logx.Options{Now: fake.Now})
	cnt := &counts{m: map[string]int{}}
	b.SetRejects(cnt.inc, lim)
	require.NoError(t, b.Start())
	t.Cleanup(func() { require.NoError(t, b.Close()) })

	// Wrong passwords, from paho, eight at a time.
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() { // exits when work is closed
			defer wg.Done()
			for i := range work {
				o := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(fmt.Sprint("attacker-", i)).
					SetUsername("dev").SetPassword(fmt.Sprint(guess, i)).SetAutoReconnect(false).
					SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
					SetProtocolVersion(4) // one CONNECT per attempt: paho would retry a refused one with 3.1
				c := paho.NewClient(o)
				tok := c.Connect()
				if !tok.WaitTimeout(20 * time.Second) {
					t.Errorf("connect %d: no answer", i)
					continue
				}
				if !errors.Is(tok.Error(), packets.ErrBadUsernameOrPassword) && tok.Error() == nil {
					t.Errorf("connect %d with a wrong password was accepted", i)
					c.Disconnect(0)
				}
			}
		}()
	}
	for i := range badLogins {
		work <- i
	}
	close(work)
	wg.Wait()

	// Oversize PUBLISHes from a logged-in client: each one disconnects it.
	for i := range oversize {
		o := paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID(fmt.Sprint("big-", i)).
			SetUsername("dev").SetPassword(password).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
		c := paho.NewClient(o)
		tok := c.Connect()
		require.True(t, tok.WaitTimeout(20*time.Second))
		require.NoError(t, tok.Error())
		c.Publish("alarms/big", 0, false, strings.Repeat("x", 4096)).WaitTimeout(10 * time.Second)
		c.Disconnect(0)
	}

	// Raw garbage: a CONNECT that does not decode, and a PUBLISH before any CONNECT.
	raw := func(pkt []byte) {
		c, err := net.Dial("tcp", b.Addr())
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write(pkt)
		require.NoError(t, err)
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, _ = io.Copy(io.Discard, c) // until the broker closes it
	}
	for range malformed {
		raw([]byte{0x10, 0x04, 0x00, 0x09, 'M', 'Q'}) // protocol name length 9, only 2 bytes
	}
	for range early {
		raw([]byte{0x30, 0x05, 0x00, 0x01, 'a', 'h', 'i'})
	}

	want := map[string]int{RejectAuth: badLogins, RejectOversize: oversize, RejectMalformed: malformed, RejectProtocol: early}
	require.Eventually(t, func() bool {
		for r, n := range want {
			if cnt.get(r) != n {
				return false
			}
		}
		return true
	}, 20*time.Second, time.Millisecond, "every attempt counted once: %v", cnt.m)

	check := func(got []string) {
		t.Helper()
		for _, l := range got {
			require.NotContains(t, l, guess, "a guessed password in the log")
			require.NotContains(t, l, password)
			lv, msg, _ := strings.Cut(l, " ")
			require.NotEmpty(t, strings.TrimSpace(msg), "a line without a message: %q", l)
			_ = lv
		}
	}
	got := log.Lines()
	check(got)
	refused := 0
	for _, l := range got {
		if strings.Contains(l, "refused a client") {
			refused++
		}
	}
	require.LessOrEqual(t, refused, len(want)*logx.DefaultBurst, "a burst per reason:\n%s", strings.Join(got, "\n"))
	require.LessOrEqual(t, len(got), len(want)*logx.DefaultBurst+5, "bounded:\n%s", strings.Join(got, "\n"))

	// A minute later the flush writes one line per reason with the rest.
	fake.Advance(time.Minute)
	lim.Flush()
	after := log.Lines()[len(got):]
	t.Logf("the log of %d refusals:\n%s", badLogins+oversize+malformed+early, strings.Join(log.Lines(), "\n"))
	check(after)
	require.Len(t, after, len(want), strings.Join(after, "\n"))
	for r, n := range want {
		line := fmt.Sprintf("embedded broker refused a client (suppressed %d similar in the last 60s)", n-logx.DefaultBurst)
		found := false
		for _, l := range after {
			found = found || (strings.Contains(l, line) && strings.Contains(l, "reason="+r+" "))
		}
		require.True(t, found, "no flush line for %s (%s) in:\n%s", r, line, strings.Join(after, "\n"))
	}
}

func TestRejectReason(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{io.EOF, ""},
		{fmt.Errorf("read connection: %w", io.ErrUnexpectedEOF), ""},
		{packets.CodeDisconnect, ""},
		{packets.ErrKeepAliveTimeout, ""},
		{packets.ErrServerShuttingDown, ""},
		{packets.ErrBadUsernameOrPassword, RejectAuth},
		{packets.ErrNotAuthorized, RejectAuth},
		{fmt.Errorf("read connection: %w", packets.ErrPacketTooLarge), RejectOversize},
		{packets.ErrPacketTooLarge, RejectOversize},
		{fmt.Errorf("read connection: %w", packets.ErrMalformedProtocolName), RejectMalformed},
		{errors.New("invalid packet type; 15"), RejectMalformed},
		{fmt.Errorf("read connection: %w", packets.ErrProtocolViolationRequireFirstConnect), RejectProtocol},
		{packets.ErrUnsupportedProtocolVersion, RejectProtocol},
		{packets.ErrTopicNameInvalid, RejectProtocol},
		{errors.New("no valid packet available; 2"), RejectProtocol},
		{packets.ErrServerBusy, RejectBusy},
		{errRefused, ""},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, rejectReason(tc.err), "%v", tc.err)
	}
}

// TestQuietHandler: Mochi's records never reach the log without a message, with a
// packet (its payload, a CONNECT's password) or unlimited.
func TestQuietHandler(t *testing.T) {
	log := &adaptertest.LogLines{}
	b := &Broker{}
	fake := clocktest.NewFake(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	b.lim = logx.New(logx.Options{Now: fake.Now})
	mlog := slog.New(quietHandler{log, b})
	pk := packets.Packet{Payload: []byte("secret payload")}
	for range 100 {
		mlog.Warn("", "error", errors.New("boom"))
		mlog.Warn("client store quota reached", "client", "c1", "pk", pk)
		mlog.Warn("error processing packet", "error", errors.New("x"), "pk", pk)
		mlog.Info("added hook", "hook", "edgerelay-auth")
	}
	got := log.Lines()
	require.Len(t, got, 2*logx.DefaultBurst, strings.Join(got, "\n"))
	for _, l := range got {
		require.NotContains(t, l, "secret payload")
		require.True(t, strings.HasPrefix(l, "WARN mqtt broker: "), l)
	}
	require.Contains(t, got[0], "WARN mqtt broker: client connection failed error=boom")
}
