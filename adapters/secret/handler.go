package secret

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// Handler wraps h so that every record it passes on has its message and every
// attribute value redacted by the Default set: strings, errors, fmt.Stringers,
// slog.LogValuers and any other value (compared in its %+v form), inside groups as
// well. Attributes bound with WithAttrs are redacted when they are bound. Install it
// outermost, so that the handlers inside it (rate limits keyed on the message, the
// formatters) see only redacted text.
func Handler(h slog.Handler) slog.Handler { return &handler{h: h} }

type handler struct{ h slog.Handler }

func (r *handler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *handler) Handle(ctx context.Context, rec slog.Record) error {
	if Default.state.Load() == nil {
		return r.h.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(RedactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *handler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = RedactAttr(a)
	}
	return &handler{h: r.h.WithAttrs(clean)}
}

func (r *handler) WithGroup(name string) slog.Handler { return &handler{h: r.h.WithGroup(name)} }

// RedactAttr returns a with its value redacted (see [Handler]).
func RedactAttr(a slog.Attr) slog.Attr {
	a.Value = redactValue(a.Value)
	return a
}

func redactValue(v slog.Value) slog.Value {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); s != "" {
			if r := Redact(s); r != s {
				return slog.StringValue(r)
			}
		}
	case slog.KindGroup:
		as := v.Group()
		clean := make([]slog.Attr, len(as))
		for i, a := range as {
			clean[i] = RedactAttr(a)
		}
		return slog.GroupValue(clean...)
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			s = fmt.Sprintf("%+v", x)
		}
		if r := Redact(s); r != s {
			return slog.StringValue(r)
		}
	}
	return v
}

// Writer returns a writer that redacts what it passes on to w, a line at a time
// (a secret is never split across two writes to w). Close writes out an
// unterminated last line; it does not close w.
func Writer(w io.Writer) io.WriteCloser { return &writer{w: w} }

type writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (x *writer) Write(p []byte) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.buf = append(x.buf, p...)
	i := bytes.LastIndexByte(x.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	_, err := x.w.Write(RedactBytes(x.buf[:i+1]))
	x.buf = append(x.buf[:0], x.buf[i+1:]...)
	return len(p), err
}

func (x *writer) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.buf) == 0 {
		return nil
	}
	_, err := x.w.Write(RedactBytes(x.buf))
	x.buf = x.buf[:0]
	return err
}
