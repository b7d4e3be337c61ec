// Package fakehttp is the scaffolding the API fakes (alertatest, ilerttest) and the
// benchmark's sinks share: a response writer that remembers its status, path
// patterns, a queue of per-path faults, dropping a connection, waiting out an
// injected delay and serving again on a fixed port. It holds no fake's logic; each
// fake keeps its own lock and answers, and these pieces keep their own state only
// where the caller asks for it.
package fakehttp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"time"
)

// StatusRecorder is an http.ResponseWriter that remembers the first status
// written, so that a fake can record what it answered.
type StatusRecorder struct {
	http.ResponseWriter
	// Status is the status answered: 0 until the handler writes, 200 when it writes
	// a body without a header.
	Status int
}

// WriteHeader implements http.ResponseWriter.
func (w *StatusRecorder) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *StatusRecorder) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Match reports whether pattern, a path.Match pattern, matches urlPath; "*" alone
// matches every path (path.Match's "*" stops at a slash). A malformed pattern
// matches nothing.
func Match(pattern, urlPath string) bool {
	if pattern == "*" {
		return true
	}
	ok, err := path.Match(pattern, urlPath)
	return err == nil && ok
}

// Queue is a queue of injected faults, each for the next n requests whose path
// matches its pattern, in the order they were added. It is not safe for
// concurrent use: the fake guards it with its own lock.
type Queue[T any] struct {
	items []*queued[T]
}

// queued is one fault of a Queue and how many requests it still claims.
type queued[T any] struct {
	pattern string
	n       int
	v       T
}

// Add queues v for the next n requests whose path matches pattern (see Match).
func (q *Queue[T]) Add(pattern string, n int, v T) {
	q.items = append(q.items, &queued[T]{pattern: pattern, n: n, v: v})
}

// Take returns the first queued fault whose pattern matches urlPath and counts the
// request against it, dropping it once it has claimed its n requests.
func (q *Queue[T]) Take(urlPath string) (T, bool) {
	for i, it := range q.items {
		if Match(it.pattern, urlPath) {
			if it.n--; it.n <= 0 {
				q.items = append(q.items[:i], q.items[i+1:]...)
			}
			return it.v, true
		}
	}
	var zero T
	return zero, false
}

// Reset forgets every queued fault.
func (q *Queue[T]) Reset() { q.items = nil }

// Drop loses the connection of the request w answers: it hijacks and closes the
// connection without an answer, or aborts the handler where the connection cannot
// be hijacked (HTTP/2: the stream is reset, and Drop does not return). The
// handler must return after it.
func Drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// Delay waits d, or until ctx (the request's) ends; false means the client gave
// up first.
func Delay(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ListenAgain listens on addr, retrying briefly while the old socket goes away:
// for a fake that comes back on the port it served before.
func ListenAgain(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("listen on %s again: %w", addr, err)
}

// Serve starts an httptest server for h on ln, a listener the caller chose (a
// fixed port, taken back by ListenAgain).
func Serve(h http.Handler, ln net.Listener) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	return srv
}
