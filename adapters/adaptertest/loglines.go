package adaptertest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// LogLines is a slog.Handler that keeps every record at Min or above as one line,
// "LEVEL msg k=v ...", for tests that count or search what was logged. The zero
// value keeps INFO and above; it is safe for concurrent use.
type LogLines struct {
	Min slog.Level
	mu  sync.Mutex
	all []string // guarded by mu
}

// Enabled reports whether l is at Min or above.
func (h *LogLines) Enabled(_ context.Context, l slog.Level) bool { return l >= h.Min }

// Handle keeps r as one line.
func (h *LogLines) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	h.all = append(h.all, b.String())
	h.mu.Unlock()
	return nil
}

// WithAttrs returns h: bound attributes are not kept.
func (h *LogLines) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup returns h.
func (h *LogLines) WithGroup(string) slog.Handler { return h }

// Lines returns a copy of the lines kept so far.
func (h *LogLines) Lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.all...)
}

// Buffer is a bytes.Buffer safe for concurrent writers: a log destination for tests
// whose daemon or adapter logs from several goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer // guarded by mu
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
