package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// terminal is the test peer: a buffer that counts Write calls and can fail the next
// ones.
type terminal struct {
	mu     sync.Mutex // guards the fields below
	buf    bytes.Buffer
	writes int
	failN  int
}

var errDiskFull = errors.New("no space left on device")

func (w *terminal) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failN > 0 {
		w.failN--
		return 0, errDiskFull
	}
	w.writes++
	return w.buf.Write(p)
}

func (w *terminal) lines(t *testing.T) []Line {
	w.mu.Lock()
	data := append([]byte(nil), w.buf.Bytes()...)
	w.mu.Unlock()
	var out []Line
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var l Line
		err := dec.Decode(&l)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err, "output is a stream of JSON objects")
		out = append(out, l)
	}
}

func deps() adapters.Deps {
	return adapters.Deps{Name: "test", Log: slog.New(slog.DiscardHandler), Now: time.Now}
}

func TestConformance(t *testing.T) {
	for _, pretty := range []bool{false, true} {
		t.Run(map[bool]string{false: "compact", true: "pretty"}[pretty], func(t *testing.T) {
			w := &terminal{}
			adaptertest.RunSink(t, adaptertest.SinkHarness{
				New: func(t *testing.T) adapters.Sink {
					s, err := NewWithWriter(Config{Pretty: pretty}, deps(), w)
					require.NoError(t, err)
					return s
				},
				Received: func(t *testing.T) []adaptertest.Delivery {
					var out []adaptertest.Delivery
					for _, l := range w.lines(t) {
						var p bytes.Buffer // pretty output indents the payload too
						require.NoError(t, json.Compact(&p, l.Payload))
						out = append(out, adaptertest.Delivery{ID: l.ID, Payload: p.Bytes()})
					}
					return out
				},
				FailNext: func(t *testing.T, n int, permanent bool) {
					require.False(t, permanent, "the suite asked for a permanent failure, which the harness declares unsupported")
					w.mu.Lock()
					defer w.mu.Unlock()
					w.failN = n
				},
				Ordered: true,
				Unsupported: map[string]string{
					"PermanentErrorIsMarked": "a failed write to stdout is always retryable",
					"ReconnectAfterRestart":  "stdout has no peer that could go away and come back",
					"NoSecretInErrors":       "stdout is configured with no secret",
				},
			})
		})
	}
}

func TestLineFormat(t *testing.T) {
	received := time.Date(2025, 3, 1, 13, 4, 5, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name    string
		payload []byte
		attrs   map[string]string
		want    string
	}{
		{
			name: "json payload embedded", payload: []byte(`{ "a": [1, 2], "html": "<b>&</b>" }`),
			attrs: map[string]string{"mqtt.qos": "1"},
			want:  `{"id":"id-1","kind":"alert","key":"k","source":"src","topic":"a/b","received":"2025-03-01T12:04:05.123456789Z","attrs":{"mqtt.qos":"1"},"payload":{"a":[1,2],"html":"<b>&</b>"}}`,
		},
		{
			name: "json scalar", payload: []byte(`42`),
			want: `{"id":"id-1","kind":"alert","key":"k","source":"src","topic":"a/b","received":"2025-03-01T12:04:05.123456789Z","payload":42}`,
		},
		{
			name: "text payload", payload: []byte("pump 7 down\n"),
			want: `{"id":"id-1","kind":"alert","key":"k","source":"src","topic":"a/b","received":"2025-03-01T12:04:05.123456789Z","payload_text":"pump 7 down\n"}`,
		},
		{
			name: "empty payload", payload: nil,
			want: `{"id":"id-1","kind":"alert","key":"k","source":"src","topic":"a/b","received":"2025-03-01T12:04:05.123456789Z","payload_text":""}`,
		},
		{
			name: "binary payload", payload: []byte{0xff, 0x00, 0x01},
			want: `{"id":"id-1","kind":"alert","key":"k","source":"src","topic":"a/b","received":"2025-03-01T12:04:05.123456789Z","payload_b64":"/wAB"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &terminal{}
			s, err := NewWithWriter(Config{}, deps(), w)
			require.NoError(t, err)
			e := &adapters.Event{ID: "id-1", Kind: "alert", Key: "k", Source: "src", Topic: "a/b",
				Payload: tc.payload, Attrs: tc.attrs, Received: received}
			require.NoError(t, s.Send(context.Background(), e))
			require.Equal(t, tc.want+"\n", w.buf.String())
			require.Equal(t, 1, w.writes, "one Write per event")
		})
	}
}

func TestPretty(t *testing.T) {
	w := &terminal{}
	s, err := NewWithWriter(Config{Pretty: true}, deps(), w)
	require.NoError(t, err)
	e := &adapters.Event{ID: "x", Payload: []byte(`{"a":1}`)}
	require.NoError(t, s.Send(context.Background(), e))
	require.NoError(t, s.Send(context.Background(), e))
	require.Equal(t, 2, w.writes, "one Write per event, however many lines")
	require.Contains(t, w.buf.String(), "\n  \"payload\": {\n    \"a\": 1\n  }\n}\n")
	require.Len(t, w.lines(t), 2)
}

// TestPayloadFormat: format payload writes the payload alone, one line per event, as
// ilagent's edge stdout mode does (compact JSON; a non-JSON payload as a JSON string).
func TestPayloadFormat(t *testing.T) {
	w := &terminal{}
	s, err := NewWithWriter(Config{Format: FormatPayload}, deps(), w)
	require.NoError(t, err)
	for _, p := range []string{"{\n \"id\": \"100\",\n \"summary\": \"<pump & valve>\" }", "plain text\nwith a newline", "\xff\xfe"} {
		require.NoError(t, s.Send(context.Background(), &adapters.Event{ID: "x", Payload: []byte(p), Attrs: map[string]string{"a": "b"}}))
	}
	require.Equal(t, "{\"id\":\"100\",\"summary\":\"<pump & valve>\"}\n\"plain text\\nwith a newline\"\n\"base64://4=\"\n", w.buf.String())

	bad := Config{Format: "yaml"}
	require.ErrorContains(t, bad.Validate(), `format: must be envelope or payload, not "yaml"`)
}

func TestWriteErrorIsRetryable(t *testing.T) {
	w := &terminal{failN: 1}
	s, err := NewWithWriter(Config{}, deps(), w)
	require.NoError(t, err)
	e := &adapters.Event{ID: "e1", Payload: []byte(`{}`)}
	err = s.Send(context.Background(), e)
	require.ErrorIs(t, err, errDiskFull)
	require.False(t, adapters.IsPermanent(err))
	require.Contains(t, err.Error(), "write event e1")
	require.NoError(t, s.Send(context.Background(), e))
	require.Len(t, w.lines(t), 1)
}

func TestNilWriter(t *testing.T) {
	_, err := NewWithWriter(Config{}, deps(), nil)
	require.Error(t, err)
}

func TestSampleThroughRegistry(t *testing.T) {
	f, ok := adapters.Lookup(adapters.DirSink, "stdout")
	require.True(t, ok, "stdout is registered")
	require.Equal(t, 1, f.Info.MaxInFlight)
	cfg := f.NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(f.Sample))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(cfg))
	require.NoError(t, f.Validate(cfg))
	s, err := f.BuildSink(cfg, deps())
	require.NoError(t, err)
	require.NoError(t, s.Connect(context.Background()))
	require.NoError(t, s.Close(context.Background()))
}

func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, h := range []string{"# stdout\n", "## Description\n", "## Configuration\n", "## Delivery semantics\n", "## Metrics\n", "## Example\n"} {
		require.Contains(t, string(readme), h)
	}
	conf := string(readme)[strings.Index(string(readme), "## Configuration"):strings.Index(string(readme), "## Delivery semantics")]
	require.Contains(t, conf, "`pretty`")
	require.Contains(t, conf, "`format`")
}
