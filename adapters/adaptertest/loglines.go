package adaptertest

import (
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
