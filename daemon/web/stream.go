package web

import (
	"bytes"
	"fmt"
	"net/http"
	"time"
)

// The status stream's pace and bounds.
const (
	// StreamEvery is how often a stream reads the status; a document goes out only
	// when it changed (Now aside).
	StreamEvery = 2 * time.Second
	// StreamHeartbeat is the longest a stream stays silent: a comment line keeps
	// proxies and the browser from timing it out and shows a dead peer.
	StreamHeartbeat = 15 * time.Second
	// MaxStreams bounds the status streams open at once (a page each); one more is
	// answered 503 and the page falls back to polling /api/status.
	MaxStreams = 8
)

// handleStream serves /api/status/stream: Server-Sent Events, one "status" event with
// the whole document at once and whenever it changes, a comment as a heartbeat. It
// ends when the client goes, and when the server shuts down, so that a page left open
// never holds up Serve's graceful shutdown.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(w, r) {
		return
	}
	pageHeaders(w.Header())
	if s.provider() == nil {
		writeJSONError(w, http.StatusServiceUnavailable, "the status is not available yet")
		return
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		w.Header().Set("Retry-After", "30")
		writeJSONError(w, http.StatusServiceUnavailable, fmt.Sprintf("%d status streams are open already; poll /api/status instead", MaxStreams))
		return
	}
	rc := http.NewResponseController(w)
	// The server's write timeout would cut the response: each write gets a deadline
	// of its own. The request's read deadline is cleared too (a stream reads nothing
	// more), so that no version of net/http ends the stream at the read timeout.
	_ = rc.SetReadDeadline(time.Time{})
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a reverse proxy must not buffer it
	w.WriteHeader(http.StatusOK)
	if !write([]byte("retry: 5000\n\n")) {
		return
	}
	tick := time.NewTicker(s.streamEvery)
	defer tick.Stop()
	var last []byte
	quiet := time.Duration(0)
	for {
		st, _ := s.statusDoc()
		now := st.Now
		st.Now = time.Time{}
		cmp := encodeStatus(&st)
		switch {
		case !bytes.Equal(cmp, last):
			last = cmp
			st.Now = now
			var ev bytes.Buffer
			ev.WriteString("event: status\ndata: ")
			ev.Write(bytes.TrimRight(encodeStatus(&st), "\n")) // JSON has no raw newline inside
			ev.WriteString("\n\n")
			if !write(ev.Bytes()) {
				return
			}
			quiet = 0
		case quiet >= s.streamHeartbeat:
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
			quiet = 0
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.shutdown:
			return
		case <-tick.C:
			quiet += s.streamEvery
		}
	}
}
