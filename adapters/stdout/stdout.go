// Package stdout is the stdout sink: it writes one JSON line per event to the
// daemon's standard output, for a first look at an event flow, for journald, and for
// piping into other tools. See README.md for the line format.
package stdout

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgerelay/edgerelay/adapters"
)

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterSink("stdout", adapters.SinkSpec[Config]{
		Summary:  "Write one JSON line per event to standard output.",
		Sample:   sample,
		Defaults: DefaultConfig,
		New:      func(cfg Config, d adapters.Deps) (adapters.Sink, error) { return New(cfg, d) },
		Info:     adapters.Info{MaxInFlight: 1},
	})
}

var _ adapters.Sink = (*Sink)(nil)

// Config configures the stdout sink.
type Config struct {
	// Format is FormatEnvelope (the default: the event with its metadata, see Line)
	// or FormatPayload (the payload alone, as ilagent's edge stdout mode writes it).
	Format string `yaml:"format"`
	// Pretty indents each event over several lines, for people reading a terminal.
	// False (the default) writes exactly one line per event.
	Pretty bool `yaml:"pretty"`
}

// The values of Config.Format.
const (
	FormatEnvelope = "envelope"
	FormatPayload  = "payload"
)

// DefaultConfig returns the defaults: the envelope, compact, one line per event.
func DefaultConfig() Config { return Config{Format: FormatEnvelope} }

// Validate reports configuration problems.
func (c *Config) Validate() error {
	switch c.Format {
	case "", FormatEnvelope, FormatPayload:
		return nil
	}
	return fmt.Errorf("format: must be %s or %s, not %q", FormatEnvelope, FormatPayload, c.Format)
}

// Sink is the stdout sink. It is safe for concurrent Send.
type Sink struct {
	pretty  bool
	payload bool // FormatPayload

	mu sync.Mutex // guards w: one event's bytes are written in one Write call
	w  io.Writer
}

// New returns a sink writing to os.Stdout.
func New(cfg Config, d adapters.Deps) (*Sink, error) { return NewWithWriter(cfg, d, os.Stdout) }

// NewWithWriter returns a sink writing to w, for tests and embedding.
func NewWithWriter(cfg Config, _ adapters.Deps, w io.Writer) (*Sink, error) {
	if w == nil {
		return nil, fmt.Errorf("stdout sink: nil writer")
	}
	return &Sink{pretty: cfg.Pretty, payload: cfg.Format == FormatPayload, w: w}, nil
}

// Line is the JSON object written for each event. Exactly one of Payload,
// PayloadText and PayloadB64 is present.
type Line struct {
	ID       string            `json:"id"`
	Kind     string            `json:"kind"`
	Key      string            `json:"key"`
	Source   string            `json:"source"`
	Topic    string            `json:"topic"`
	Received string            `json:"received"` // RFC 3339 with nanoseconds, UTC
	Attrs    map[string]string `json:"attrs,omitempty"`
	// Payload is the payload itself when it is valid JSON.
	Payload json.RawMessage `json:"payload,omitempty"`
	// PayloadText is the payload as a string when it is UTF-8 but not JSON.
	PayloadText *string `json:"payload_text,omitempty"`
	// PayloadB64 is the payload in standard base64 when it is not UTF-8.
	PayloadB64 []byte `json:"payload_b64,omitempty"`
}

// lineOf builds e's Line.
func lineOf(e *adapters.Event) Line {
	l := Line{
		ID: e.ID, Kind: e.Kind, Key: e.Key, Source: e.Source, Topic: e.Topic,
		Received: e.Received.UTC().Format(time.RFC3339Nano),
		Attrs:    e.Attrs,
	}
	switch {
	case len(e.Payload) > 0 && json.Valid(e.Payload):
		l.Payload = e.Payload
	case utf8.Valid(e.Payload):
		s := string(e.Payload)
		l.PayloadText = &s
	default:
		l.PayloadB64 = e.Payload
	}
	return l
}

// payloadOf is what FormatPayload writes for e: the payload when it is JSON (the
// encoder compacts it onto one line), else a JSON string of its text — of
// "base64:" and its standard base64 when it is not UTF-8 — so that every event is
// still exactly one line of JSON.
func payloadOf(e *adapters.Event) any {
	switch {
	case len(e.Payload) > 0 && json.Valid(e.Payload):
		return json.RawMessage(e.Payload)
	case utf8.Valid(e.Payload):
		return string(e.Payload)
	default:
		return "base64:" + base64.StdEncoding.EncodeToString(e.Payload)
	}
}

// Connect does nothing: standard output is always there.
func (s *Sink) Connect(context.Context) error { return nil }

// Send writes e as one JSON line in a single Write call. A cancelled ctx or a failed
// write (a closed pipe, a full disk) is a retryable error.
func (s *Sink) Send(ctx context.Context, e *adapters.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write event %s: %w", e.ID, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if s.pretty {
		enc.SetIndent("", "  ")
	}
	var v any = lineOf(e)
	if s.payload {
		v = payloadOf(e)
	}
	if err := enc.Encode(v); err != nil {
		// Only attributes could fail here (the payload was checked); no retry fixes that.
		return adapters.Permanent(fmt.Errorf("encode event %s: %w", e.ID, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write event %s: %w", e.ID, err)
	}
	return nil
}

// Close does nothing: the sink never closes standard output.
func (s *Sink) Close(context.Context) error { return nil }
