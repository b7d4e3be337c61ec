package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

func validSinkConfig() SinkConfig {
	c := DefaultSinkConfig()
	c.Brokers = []string{"127.0.0.1:9092"}
	c.Topic = "alerts"
	return c
}

func TestSinkConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*SinkConfig)
		want []string // substrings of the error; none means valid
	}{
		{"defaults with brokers and topic", func(*SinkConfig) {}, nil},
		{"zero values take defaults", func(c *SinkConfig) {
			*c = SinkConfig{Brokers: []string{"k:9092"}, Topic: "a"}
		}, nil},
		{"everything set", func(c *SinkConfig) {
			c.Brokers = []string{"kafka1.example.org:9092", "[::1]:9093"}
			c.Topic = "a.b_c-D"
			c.Key = "path:alert.id"
			c.Acks = AcksLeader
			c.Idempotent = false
			c.Compression = CompressionZstd
			c.Timeout = 30 * time.Second
			c.ClientID = "gw-1"
			c.MaxInFlight = 1024
			c.MaxMessageBytes = 4 << 20
			c.TLS = TLSConfig{TLSConfig: httpc.TLSConfig{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"}}
			c.SASL = SASLConfig{Username: "u", Password: "p"}
		}, nil},
		{"key event", func(c *SinkConfig) { c.Key = "event" }, nil},
		{"every acks", func(c *SinkConfig) { c.Acks = AcksNone }, nil},
		{"every codec", func(c *SinkConfig) { c.Compression = CompressionLZ4 }, nil},
		{"no brokers", func(c *SinkConfig) { c.Brokers = nil }, []string{"brokers: at least one"}},
		{"broker without port", func(c *SinkConfig) { c.Brokers = []string{"kafka"} }, []string{"brokers[0]:", "not host:port"}},
		{"no topic", func(c *SinkConfig) { c.Topic = "" }, []string{"topic: required"}},
		{"bad topic", func(c *SinkConfig) { c.Topic = "alerts/*" }, []string{"topic:", "only letters"}},
		{"long topic", func(c *SinkConfig) { c.Topic = strings.Repeat("t", 250) }, []string{"topic:", "longer than 249"}},
		{"unknown key mode", func(c *SinkConfig) { c.Key = "id" }, []string{`key: "id" is neither "event" nor "path:"`}},
		{"path without a path", func(c *SinkConfig) { c.Key = "path:" }, []string{`key: "path:" names no path`}},
		{"path with spaces", func(c *SinkConfig) { c.Key = "path: id" }, []string{"key:", "leading or trailing spaces"}},
		{"bad acks", func(c *SinkConfig) { c.Acks = "1" }, []string{`acks: "1" is not "all", "leader" or "none"`}},
		{"bad compression", func(c *SinkConfig) { c.Compression = "brotli" }, []string{`compression: "brotli"`}},
		{"short timeout", func(c *SinkConfig) { c.Timeout = time.Millisecond }, []string{"timeout: 1ms is below 100ms"}},
		{"negative timeout", func(c *SinkConfig) { c.Timeout = -time.Second }, []string{"timeout:"}},
		{"long timeout", func(c *SinkConfig) { c.Timeout = time.Hour }, []string{"timeout: 1h0m0s is above 5m"}},
		{"long client id", func(c *SinkConfig) { c.ClientID = strings.Repeat("c", 256) }, []string{"client_id:"}},
		{"too many in flight", func(c *SinkConfig) { c.MaxInFlight = 2000 }, []string{"max_in_flight: 2000"}},
		{"negative in flight", func(c *SinkConfig) { c.MaxInFlight = -1 }, []string{"max_in_flight: -1"}},
		{"tiny message bytes", func(c *SinkConfig) { c.MaxMessageBytes = 10 }, []string{"max_message_bytes: 10"}},
		{"huge message bytes", func(c *SinkConfig) { c.MaxMessageBytes = 200 << 20 }, []string{"max_message_bytes:"}},
		{"cert without key", func(c *SinkConfig) { c.TLS.CertFile = "c.pem" }, []string{"tls: cert_file and key_file"}},
		{"password without user", func(c *SinkConfig) { c.SASL.Password = "pw-12345" }, []string{"sasl.username: required"}},
		{"every problem at once", func(c *SinkConfig) {
			c.Brokers, c.Topic, c.Key, c.Acks, c.Compression = nil, "", "x", "some", "rar"
		}, []string{"brokers:", "topic:", "key:", "acks:", "compression:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validSinkConfig()
			tc.mod(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				require.NoError(t, err)
				_, err := NewSink(c, adapters.Deps{})
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			_, err = NewSink(c, adapters.Deps{})
			require.Error(t, err, "NewSink validates")
		})
	}
}

func TestSinkDefaults(t *testing.T) {
	d := DefaultSinkConfig()
	require.Equal(t, KeyEvent, d.Key)
	require.Equal(t, AcksAll, d.Acks)
	require.True(t, d.Idempotent)
	require.Equal(t, CompressionNone, d.Compression)
	require.Equal(t, 5*time.Second, d.Timeout)
	require.Equal(t, "edgerelay", d.ClientID)
	require.Equal(t, 64, d.MaxInFlight)
	require.Equal(t, 1_000_000, d.MaxMessageBytes)
	z := SinkConfig{}.withDefaults()
	require.False(t, z.Idempotent, "false is a choice: withDefaults keeps it")
	z.Idempotent = true
	require.Equal(t, d, z)
}

func TestSinkSampleThroughRegistry(t *testing.T) {
	f, ok := adapters.Lookup(adapters.DirSink, "kafka")
	require.True(t, ok, "the kafka sink is registered")
	require.Equal(t, sinkSample, f.Sample)
	require.Equal(t, DefaultSinkMaxInFlight, f.Info.MaxInFlight)
	cfg := f.NewConfig()
	require.Equal(t, DefaultSinkConfig(), *cfg.(*SinkConfig))
	require.Error(t, f.Validate(cfg), "brokers and topic are required")
	dec := yaml.NewDecoder(strings.NewReader(f.Sample))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(cfg))
	require.NoError(t, f.Validate(cfg))
	s, err := f.BuildSink(cfg, adapters.Deps{Name: "k"})
	require.NoError(t, err)
	require.Equal(t, 64, s.(adapters.InFlightLimiter).MaxInFlight())
	require.NoError(t, s.Close(context.Background()))

	var c SinkConfig
	dec = yaml.NewDecoder(strings.NewReader("topic: a\nbogus: 1\n"))
	dec.KnownFields(true)
	require.Error(t, dec.Decode(&c), "unknown keys are rejected")
	// idempotent: false in YAML survives the defaults.
	c = DefaultSinkConfig()
	require.NoError(t, yaml.Unmarshal([]byte("idempotent: false\n"), &c))
	require.False(t, c.Idempotent)
}

// TestSinkKey: the record key is the event's Key, or a payload field read with
// gjson where a number is written as its JSON text (an edge item's numeric alert id
// 999 gives "999"); no key when there is nothing usable. One key stays on one
// partition.
func TestSinkKey(t *testing.T) {
	sc := newSinkCluster(t, "keys", 8, "", "")
	byEvent := newTestSink(t, sc, nil, nil)
	connect(t, byEvent)
	byPath := newTestSink(t, sc, nil, func(c *SinkConfig) { c.Key = "path:id" })
	connect(t, byPath)
	nested := newTestSink(t, sc, nil, func(c *SinkConfig) { c.Key = "path:alert.ref" })
	connect(t, nested)

	cases := []struct {
		s       *Sink
		key     string // the event's Key
		payload string
		want    []byte // nil: no key
	}{
		{byEvent, "k-1", `{"id":5}`, []byte("k-1")},
		{byEvent, "", `{"id":6}`, nil},
		{byPath, "ignored", `{"id":999,"eventType":"alert-created"}`, []byte("999")},
		{byPath, "", `{"id":"01HXYZ"}`, []byte("01HXYZ")},
		{byPath, "", `{"id":12345678901234567890}`, []byte("12345678901234567890")},
		{byPath, "", `{"id":1.50}`, []byte("1.50")},
		{byPath, "", `{"id":true}`, []byte("true")},
		{byPath, "ev", `{"id":null}`, nil},
		{byPath, "ev", `{"id":{"a":1}}`, nil},
		{byPath, "ev", `{"other":1}`, nil},
		{byPath, "ev", `not json`, nil},
		{nested, "", `{"alert":{"ref":"r-7"}}`, []byte("r-7")},
	}
	for i, tc := range cases {
		e := testEvent(i, tc.key, tc.payload)
		require.NoError(t, tc.s.Send(context.Background(), e), "case %d", i)
	}
	got := waitRecords(t, sc, len(cases))
	byValue := map[string]record{}
	for _, r := range got {
		byValue[string(r.Value)] = r
	}
	for i, tc := range cases {
		r, ok := byValue[tc.payload]
		require.True(t, ok, "case %d: %s not produced", i, tc.payload)
		require.Equal(t, tc.want, r.Key, "case %d: %s", i, tc.payload)
	}

	// 40 events of one key land on one partition, in the order sent.
	for i := range 40 {
		require.NoError(t, byEvent.Send(context.Background(), testEvent(100+i, "alert-42", fmt.Sprintf(`{"n":%d}`, i))))
	}
	got = waitRecords(t, sc, len(cases)+40)
	part, n := int32(-1), 0
	for _, r := range got {
		if string(r.Key) != "alert-42" {
			continue
		}
		if part == -1 {
			part = r.Partition
		}
		require.Equal(t, part, r.Partition, "one key, one partition")
		require.Equal(t, fmt.Sprintf(`{"n":%d}`, n), string(r.Value), "in order")
		n++
	}
	require.Equal(t, 40, n)
}

func testEvent(i int, key, payload string) *adapters.Event {
	return &adapters.Event{
		ID: fmt.Sprintf("ev-%04d", i), Kind: adapters.KindAlert, Key: key, Source: "edge", Topic: "alert-created",
		Payload: []byte(payload), Received: time.Now(),
	}
}

// TestSinkRecordHeaders: the event id, source and topic travel as record headers,
// header.* attributes are forwarded (but cannot forge the sink's own), and the
// record's timestamp is the time the relay received the event.
func TestSinkRecordHeaders(t *testing.T) {
	sc := newSinkCluster(t, "headers", 1, "", "")
	s := newTestSink(t, sc, nil, nil)
	connect(t, s)
	recv := time.Date(2026, 12, 2, 10, 11, 12, 345_000_000, time.UTC)
	e := &adapters.Event{
		ID: "edge-1001", Kind: adapters.KindAlert, Key: "999", Source: "edge", Topic: "alert-created",
		Payload: []byte(`{"id":999}`), Received: recv,
		Attrs: map[string]string{
			"header.X-ilert-Alert-Id":     "999",
			"header.X-ilert-Edge-Item-Id": "1001",
			"header.X-Edgerelay-Event-Id": "forged",
			"env.ILERT_ALERT_ID":          "999",
			"header.":                     "nameless",
		},
	}
	require.NoError(t, s.Send(context.Background(), e))
	r := waitRecords(t, sc, 1)[0]
	require.Equal(t, map[string]string{
		HeaderEventID:          "edge-1001",
		HeaderSource:           "edge",
		HeaderTopic:            "alert-created",
		"X-ilert-Alert-Id":     "999",
		"X-ilert-Edge-Item-Id": "1001",
	}, r.Headers)
	require.Equal(t, []byte("999"), r.Key)
	require.True(t, recv.Equal(r.Time), "timestamp %s, want %s", r.Time, recv)
}

// TestSinkTooLarge: a record over max_message_bytes is refused before it is sent, and
// one over the broker's message.max.bytes is refused by the broker: both permanent,
// and the sink keeps working.
func TestSinkTooLarge(t *testing.T) {
	sc := newSinkCluster(t, "large", 1, "", "", kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4096"}))
	s := newTestSink(t, sc, nil, func(c *SinkConfig) { c.MaxMessageBytes = 16 << 10 })
	connect(t, s)

	err := s.Send(context.Background(), testEvent(1, "k", `{"pad":"`+strings.Repeat("x", 20<<10)+`"}`))
	require.Error(t, err)
	require.True(t, adapters.IsPermanent(err), "over max_message_bytes: %v", err)
	require.Contains(t, err.Error(), "max_message_bytes")

	err = s.Send(context.Background(), testEvent(2, "k", `{"pad":"`+strings.Repeat("y", 8<<10)+`"}`))
	require.Error(t, err)
	require.True(t, adapters.IsPermanent(err), "over the broker's message.max.bytes: %v", err)

	require.NoError(t, s.Send(context.Background(), testEvent(3, "k", `{"small":true}`)))
	got := waitRecords(t, sc, 1)
	require.Len(t, got, 1)
	require.Equal(t, `{"small":true}`, string(got[0].Value))
}

// TestSinkUnreachable: Send before Connect and Connect to a closed port fail; a
// cluster that goes away makes Send fail with an error wrapping ErrNotConnected,
// retryable, so that the daemon connects again.
func TestSinkUnreachable(t *testing.T) {
	s, err := NewSink(func() SinkConfig { c := validSinkConfig(); c.Brokers = []string{freeAddr(t)}; return c }(), adapters.Deps{})
	require.NoError(t, err)
	err = s.Send(context.Background(), testEvent(0, "k", `{}`))
	require.ErrorIs(t, err, adapters.ErrNotConnected)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = s.Connect(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "connect to")
	require.NoError(t, s.Close(context.Background()))

	sc := newSinkCluster(t, "gone", 1, "", "")
	s2 := newTestSink(t, sc, nil, func(c *SinkConfig) { c.Timeout = 30 * time.Second })
	connect(t, s2)
	require.NoError(t, s2.Send(context.Background(), testEvent(1, "k", `{"n":1}`)))
	sc.cluster().Close()
	err = s2.Send(context.Background(), testEvent(2, "k", `{"n":2}`))
	require.Error(t, err)
	require.False(t, adapters.IsPermanent(err))
	require.ErrorIs(t, err, adapters.ErrNotConnected, "a lost cluster asks for Connect: %v", err)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	addr := c.ListenAddrs()[0]
	c.Close()
	return addr
}

// TestSinkSASLNoSecretInLogs: with the right SASL/PLAIN password the sink produces;
// with a wrong one Connect fails. Neither password appears in any error or in any
// log line, at DEBUG included.
func TestSinkSASLNoSecretInLogs(t *testing.T) {
	const good, bad = "SinkGoodPw-2b4d6f8h0j", "SinkWrongPw-9z7x5v3t1r"
	sc := newSinkCluster(t, "sasl", 2, "edge", good)
	var logs adaptertest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mk := func(pw string) *Sink {
		cfg := DefaultSinkConfig()
		cfg.Brokers, cfg.Topic = []string{sc.addr}, sc.topic
		cfg.SASL = SASLConfig{Username: "edge", Password: secret.Value(pw)}
		s, err := NewSink(cfg, adapters.Deps{Name: "ks", Log: log})
		require.NoError(t, err)
		return s
	}
	var errs []error
	ok := mk(good)
	connect(t, ok)
	require.NoError(t, ok.Send(context.Background(), testEvent(1, "k", `{"n":1}`)))
	waitRecords(t, sc, 1)

	wrong := mk(bad)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := wrong.Connect(ctx)
	require.Error(t, err, "a wrong password is refused")
	errs = append(errs, err, wrong.Send(context.Background(), testEvent(2, "k", `{}`)))
	require.NoError(t, wrong.Close(context.Background()))
	log.Info("the whole configuration", "cfg", wrong.cfg)

	for _, err := range errs {
		require.Error(t, err)
		for _, pw := range []string{good, bad} {
			require.NotContains(t, err.Error(), pw)
			require.NotContains(t, fmt.Sprintf("%+v", err), pw)
		}
	}
	text := logs.String()
	require.Contains(t, text, "producer connected")
	for _, pw := range []string{good, bad} {
		require.NotContains(t, text, pw)
	}
}

// TestSinkIdempotenceRefused: a broker that refuses the idempotent producer
// (InitProducerId answered CLUSTER_AUTHORIZATION_FAILED, as a broker whose ACLs lack
// IdempotentWrite does) gets records without it: a warning, a degraded condition,
// and delivery goes on.
func TestSinkIdempotenceRefused(t *testing.T) {
	sc := newSinkCluster(t, "noidem", 1, "", "")
	c := sc.cluster()
	c.ControlKey(int16(kmsg.InitProducerID), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.(*kmsg.InitProducerIDRequest).ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.Version = req.GetVersion()
		resp.ErrorCode = codeClusterAuthorizationFaild
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp, nil, true
	})
	h := newHealthRec()
	var lines adaptertest.LogLines
	cfg := DefaultSinkConfig()
	cfg.Brokers, cfg.Topic = []string{sc.addr}, sc.topic
	s, err := NewSink(cfg, adapters.Deps{Log: slog.New(&lines), Health: h})
	require.NoError(t, err)
	connect(t, s)
	require.False(t, s.current().idempotent)
	ok, detail := h.get(condIdempotent)
	require.False(t, ok)
	require.Contains(t, detail, "refuse the idempotent producer")
	require.True(t, containsLine(lines.Lines(), "WARN the brokers refuse the idempotent producer"), "%q", lines.Lines())
	require.NoError(t, s.Send(context.Background(), testEvent(1, "k", `{"n":1}`)))
	waitRecords(t, sc, 1)

	// Where the broker allows it, the producer is idempotent and the condition clear.
	sc2 := newSinkCluster(t, "idem", 1, "", "")
	h2 := newHealthRec()
	s2 := newTestSink(t, sc2, h2, nil)
	connect(t, s2)
	require.True(t, s2.current().idempotent)
	ok, _ = h2.get(condIdempotent)
	require.True(t, ok)
}

func containsLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// TestSinkAcks: acks leader and none turn the idempotent producer off with a
// warning and still deliver.
func TestSinkAcks(t *testing.T) {
	for _, acks := range []string{AcksLeader, AcksNone} {
		t.Run(acks, func(t *testing.T) {
			sc := newSinkCluster(t, "acks", 1, "", "")
			var lines adaptertest.LogLines
			cfg := DefaultSinkConfig()
			cfg.Brokers, cfg.Topic, cfg.Acks = []string{sc.addr}, sc.topic, acks
			s, err := NewSink(cfg, adapters.Deps{Log: slog.New(&lines)})
			require.NoError(t, err)
			require.True(t, containsLine(lines.Lines(), "WARN idempotent producer turned off: it needs acks: all"), "%q", lines.Lines())
			connect(t, s)
			require.False(t, s.current().idempotent)
			for i := range 20 {
				require.NoError(t, s.Send(context.Background(), testEvent(i, "k", fmt.Sprintf(`{"n":%d}`, i))))
			}
			waitRecords(t, sc, 20)
		})
	}
}

// TestSinkCompression: every codec round-trips the payloads.
func TestSinkCompression(t *testing.T) {
	sc := newSinkCluster(t, "codecs", 1, "", "")
	var want []string
	for i, codec := range []string{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		s := newTestSink(t, sc, nil, func(c *SinkConfig) { c.Compression = codec })
		connect(t, s)
		p := fmt.Sprintf(`{"codec":%q,"text":%q}`, codec, strings.Repeat("pressure high ", 50))
		want = append(want, p)
		require.NoError(t, s.Send(context.Background(), testEvent(i, "k", p)), codec)
		require.NoError(t, s.Close(context.Background()))
	}
	var got []string
	for _, r := range waitRecords(t, sc, len(want)) {
		got = append(got, string(r.Value))
	}
	require.Equal(t, want, got)
}

// TestSinkTLS: the sink reaches a TLS listener with the configured CA and fails to
// connect with another.
func TestSinkTLS(t *testing.T) {
	dir := t.TempDir()
	caPEM, serverCert := selfSigned(t)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))
	otherPEM, _ := selfSigned(t)
	otherFile := filepath.Join(dir, "other.pem")
	require.NoError(t, os.WriteFile(otherFile, otherPEM, 0o600))
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "tls"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	mk := func(ca string) *Sink {
		cfg := DefaultSinkConfig()
		cfg.Brokers, cfg.Topic = c.ListenAddrs(), "tls"
		cfg.TLS.CAFile = ca
		s, err := NewSink(cfg, adapters.Deps{})
		require.NoError(t, err)
		return s
	}
	s := mk(caFile)
	connect(t, s)
	require.NoError(t, s.Send(context.Background(), testEvent(1, "k", `{"tls":true}`)))

	bad := mk(otherFile)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.Error(t, bad.Connect(ctx))
	require.NoError(t, bad.Close(context.Background()))

	missing := mk(filepath.Join(dir, "absent.pem"))
	err = missing.Connect(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "absent.pem")
}

// TestSinkReconnectKeepsInFlight: Connect replacing the producer while Sends are in
// flight loses none of them: each returns nil (delivered) or an error (retried).
func TestSinkReconnectKeepsInFlight(t *testing.T) {
	sc := newSinkCluster(t, "reconnect", 4, "", "")
	s := newTestSink(t, sc, nil, nil)
	connect(t, s)
	const n = 400
	errs := make(chan error, n)
	delivered := make(chan string, n)
	for w := range 8 {
		go func() { // exits after its share of the sends
			for i := w; i < n; i += 8 {
				e := testEvent(i, fmt.Sprintf("w%d", w), fmt.Sprintf(`{"i":%d}`, i))
				err := s.Send(context.Background(), e)
				if err == nil {
					delivered <- string(e.Payload)
				}
				errs <- err
			}
		}()
	}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		require.NoError(t, s.Connect(ctx))
		cancel()
	}
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			require.False(t, adapters.IsPermanent(err), "%v", err)
			failed++
		}
	}
	close(delivered)
	want := map[string]bool{}
	for p := range delivered {
		want[p] = true
	}
	got := waitRecords(t, sc, len(want))
	for _, r := range got {
		delete(want, string(r.Value))
	}
	require.Empty(t, want, "every Send that returned nil is on the topic")
	t.Logf("%d sends delivered, %d returned a retryable error during the reconnects", n-failed, failed)
}

// TestSinkBrokerErrors: the broker's answers, on the wire, classified: a record or
// topic the broker can never accept is permanent, a broker that is not available asks
// for Connect, the rest is retried. After each, the sink delivers again.
func TestSinkBrokerErrors(t *testing.T) {
	sc := newSinkCluster(t, "answers", 1, "", "")
	s := newTestSink(t, sc, nil, nil)
	connect(t, s)
	cases := []struct {
		code         int16
		name         string
		saramaRetry  bool // sarama retries it itself before Send sees it
		permanent    bool
		notConnected bool
	}{
		{10, "MESSAGE_TOO_LARGE", false, true, false},
		{17, "INVALID_TOPIC_EXCEPTION", false, true, false},
		{18, "RECORD_LIST_TOO_LARGE", false, true, false},
		{87, "INVALID_RECORD", false, true, false},
		{19, "NOT_ENOUGH_REPLICAS", true, false, false},
		{6, "NOT_LEADER_OR_FOLLOWER", true, false, false},
		{29, "TOPIC_AUTHORIZATION_FAILED", false, false, false},
		{8, "BROKER_NOT_AVAILABLE", false, false, true},
		{47, "INVALID_PRODUCER_EPOCH", false, false, true}, // a new producer, not the same one again
	}
	delivered := 0
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := 1
			if tc.saramaRetry {
				n = producerRetries + 1
			}
			sc.failProduce(n, tc.code)
			err := s.Send(context.Background(), testEvent(i, "k", fmt.Sprintf(`{"case":%d}`, i)))
			require.Error(t, err)
			require.Equal(t, tc.permanent, adapters.IsPermanent(err), "%v", err)
			require.Equal(t, tc.notConnected, errors.Is(err, adapters.ErrNotConnected), "%v", err)
			if tc.notConnected {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				require.NoError(t, s.Connect(ctx))
			}
			require.NoError(t, s.Send(context.Background(), testEvent(100+i, "k", fmt.Sprintf(`{"after":%d}`, i))))
			delivered++
			waitRecords(t, sc, delivered)
		})
	}
}

// TestSinkUnknownTopic: a topic the cluster does not have (and does not create) is
// retried, not dead-lettered: it may be created.
func TestSinkUnknownTopic(t *testing.T) {
	sc := newSinkCluster(t, "exists", 1, "", "")
	s := newTestSink(t, sc, nil, func(c *SinkConfig) { c.Topic = "not-yet"; c.Timeout = 20 * time.Second })
	connect(t, s)
	err := s.Send(context.Background(), testEvent(1, "k", `{}`))
	require.Error(t, err)
	require.False(t, adapters.IsPermanent(err), "%v", err)
}
