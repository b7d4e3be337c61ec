package kafka

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/internal/keypath"
	"github.com/edgerelay/edgerelay/adapters/settle"
)

func validConfig() Config {
	c := DefaultConfig()
	c.Brokers = []string{"127.0.0.1:9092"}
	c.Topics = []string{"alerts"}
	return c
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error; none means valid
	}{
		{"defaults with brokers and topics", func(*Config) {}, nil},
		{"zero values take defaults", func(c *Config) {
			*c = Config{Brokers: []string{"k:9092"}, Topics: []string{"a"}}
		}, nil},
		{"everything set", func(c *Config) {
			c.Brokers = []string{"kafka1.example.org:9092", "[::1]:9093"}
			c.Topics = []string{"a.b_c-D", "x"}
			c.InitialOffset = OffsetNewest
			c.SessionTimeout = 10 * time.Second
			c.KeyPath = "alarm.id"
			c.MaxInflight = 5
			c.TLS = TLSConfig{TLSConfig: httpc.TLSConfig{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"}}
			c.SASL = SASLConfig{Username: "u", Password: "p"}
		}, nil},
		{"no brokers", func(c *Config) { c.Brokers = nil }, []string{"brokers: at least one"}},
		{"broker without port", func(c *Config) { c.Brokers = []string{"kafka"} }, []string{"brokers[0]:", "not host:port"}},
		{"broker bad port", func(c *Config) { c.Brokers = []string{"a:1", "b:99999"} }, []string{"brokers[1]:", "bad port"}},
		{"broker no host", func(c *Config) { c.Brokers = []string{":9092"} }, []string{"brokers[0]:", "no host"}},
		{"no topics", func(c *Config) { c.Topics = nil }, []string{"topics: at least one"}},
		{"wildcard topic", func(c *Config) { c.Topics = []string{"a", "alerts.*"} }, []string{"topics[1]:", "no wildcards"}},
		{"empty topic", func(c *Config) { c.Topics = []string{""} }, []string{"topics[0]: empty"}},
		{"dot topic", func(c *Config) { c.Topics = []string{".."} }, []string{"topics[0]:"}},
		{"long topic", func(c *Config) { c.Topics = []string{strings.Repeat("a", 250)} }, []string{"longer than 249"}},
		{"duplicate topic", func(c *Config) { c.Topics = []string{"a", "a"} }, []string{"topics[1]: \"a\" is listed twice"}},
		{"long group", func(c *Config) { c.GroupID = strings.Repeat("g", 256) }, []string{"group_id:"}},
		{"bad initial offset", func(c *Config) { c.InitialOffset = "latest" }, []string{"initial_offset: \"latest\""}},
		{"short session timeout", func(c *Config) { c.SessionTimeout = 500 * time.Millisecond }, []string{"session_timeout:"}},
		{"negative session timeout", func(c *Config) { c.SessionTimeout = -time.Second }, []string{"session_timeout:"}},
		{"long session timeout", func(c *Config) { c.SessionTimeout = 2 * time.Hour }, []string{"session_timeout:"}},
		{"key path spaces", func(c *Config) { c.KeyPath = " a" }, []string{"key_path:"}},
		{"negative max inflight", func(c *Config) { c.MaxInflight = -1 }, []string{"max_inflight:"}},
		{"huge max inflight", func(c *Config) { c.MaxInflight = 2_000_000 }, []string{"max_inflight:"}},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "c.pem" }, []string{"tls: cert_file and key_file"}},
		{"ca with insecure", func(c *Config) {
			c.TLS.CAFile = "ca.pem"
			c.TLS.InsecureSkipVerify = true
		}, []string{"tls: ca_file is pointless"}},
		{"password without user", func(c *Config) { c.SASL.Password = "p" }, []string{"sasl.username:"}},
		{"every problem at once", func(c *Config) {
			c.Brokers = nil
			c.Topics = nil
			c.InitialOffset = "x"
			c.MaxInflight = -3
		}, []string{"brokers:", "topics:", "initial_offset:", "max_inflight:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d := DefaultConfig()
	require.Equal(t, "edgerelay", d.GroupID)
	require.Equal(t, OffsetOldest, d.InitialOffset)
	require.Equal(t, 6*time.Second, d.SessionTimeout)
	require.Equal(t, adapters.KindRaw, d.Kind)
	require.Equal(t, 1000, d.MaxInflight)
	require.Equal(t, d, Config{}.withDefaults())
	require.False(t, d.TLS.On())
	require.True(t, TLSConfig{Enable: true}.On())
	require.True(t, TLSConfig{TLSConfig: httpc.TLSConfig{ServerName: "k"}}.On())
}

func TestRegistered(t *testing.T) {
	f, ok := adapters.Lookup(adapters.DirSource, "kafka")
	require.True(t, ok)
	cfg := f.NewConfig().(*Config)
	require.Equal(t, DefaultConfig(), *cfg)
	require.Error(t, f.Validate(cfg), "brokers and topics are required")
	cfg.Brokers, cfg.Topics = []string{"127.0.0.1:9092"}, []string{"a"}
	src, err := f.BuildSource(cfg, adapters.Deps{Name: "k"})
	require.NoError(t, err)
	require.NotNil(t, src)
}

func TestEventKey(t *testing.T) {
	require.Equal(t, "mk", keypath.Key("", "mk", []byte(`{"id":"x"}`)))
	require.Equal(t, "x", keypath.Key("id", "mk", []byte(`{"id":"x"}`)))
	require.Equal(t, "7", keypath.Key("id", "mk", []byte(`{"id":7}`)))
	require.Equal(t, "mk", keypath.Key("id", "mk", []byte(`not json`)))
	require.Equal(t, "mk", keypath.Key("id", "mk", []byte(`{"id":""}`)))
	require.Equal(t, "", keypath.Key("id", "", []byte(`{}`)))
}

// TestSettleOrder: only the prefix of settled messages, in arrival order, becomes
// committable; a refusal stops it for the session and ends the session once.
func TestSettleOrder(t *testing.T) {
	ended := 0
	h := newHandler(&Source{}, nil, nil, func() { ended++ })
	p := h.partition("t", 0)
	offs := []int64{10, 11, 13, 14, 20} // offsets need not be contiguous
	ents := make([]*settle.Entry[int64], len(offs))
	for i, o := range offs {
		e, err := p.tr.Push(context.Background(), o, 1)
		require.NoError(t, err)
		ents[i] = e
	}
	stored := adapters.Settled(adapters.Stored, "")
	h.settle(p, ents[2], stored, msg(13))
	h.settle(p, ents[3], adapters.Settled(adapters.Delivered, ""), msg(14))
	require.Equal(t, int64(-1), p.next.Load(), "nothing before 13 is settled yet")
	h.settle(p, ents[0], adapters.Settled(adapters.DeadLettered, "x"), msg(10))
	require.Equal(t, int64(11), p.next.Load())
	h.settle(p, ents[1], adapters.Settled(adapters.Dropped, "y"), msg(11))
	require.Equal(t, int64(15), p.next.Load(), "11, 13, 14 settled: commit 15")
	refused := errors.New("no")
	h.settle(p, ents[4], adapters.Refuse(refused), msg(20))
	require.Equal(t, int64(15), p.next.Load(), "a refused message is never committed")
	require.Equal(t, 1, ended)
	err, at := h.refusal()
	require.Equal(t, refused, err)
	require.Equal(t, "t/0@20", at)
	require.True(t, h.progress.Load())
	select {
	case <-p.tr.Idle():
	default:
		t.Fatal("a refused head leaves nothing to wait for")
	}

	// A refusal blocks what comes after it: nothing more is tracked.
	_, err = p.tr.Push(context.Background(), 21, 1)
	require.Error(t, err)
	require.Equal(t, int64(15), p.next.Load())

	// After the session's last commit, settlements are ignored.
	q := h.partition("t", 1)
	e2, err := q.tr.Push(context.Background(), 22, 1)
	require.NoError(t, err)
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.settle(q, e2, adapters.Refuse(errors.New("late")), msg(22))
	require.Equal(t, 1, ended)
}

// TestUnreachableBroker: Run keeps trying with backoff, reports consumer_started
// false, and returns nil promptly on cancel.
func TestUnreachableBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	h := newHealthRec()
	cfg := validConfig()
	cfg.Brokers = []string{addr}
	s, err := NewSource(cfg, adapters.Deps{Name: "k", Health: h})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, adapters.PublisherFunc(nil)) }() // exits when Run returns
	require.Eventually(t, func() bool {
		ok, detail := h.get(condStarted)
		return !ok && strings.Contains(detail, "connect to")
	}, 20*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	ok, detail := h.get(condStarted)
	require.False(t, ok)
	require.Equal(t, "stopped", detail)
}

// TestBadTLSFiles: unreadable TLS files fail Run at once.
func TestBadTLSFiles(t *testing.T) {
	cfg := validConfig()
	cfg.TLS.CAFile = t.TempDir() + "/missing.pem"
	s, err := NewSource(cfg, adapters.Deps{Name: "k"})
	require.NoError(t, err)
	err = s.Run(context.Background(), adapters.PublisherFunc(nil))
	require.ErrorContains(t, err, "tls.ca_file")
}

func msg(off int64) *sarama.ConsumerMessage {
	return &sarama.ConsumerMessage{Topic: "t", Partition: 0, Offset: off}
}
