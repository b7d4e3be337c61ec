package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/web"
)

// TestStatusPageBrokenStreamInChromium: the page in chromium says "live" only for a
// stream document it could parse. Its stream sends one that is not JSON (after the
// page's first poll has been answered, so that the order is fixed): the page must not
// claim to be live but fall back to polling, which the server sees as a second poll.
// The page and its assets are the real server's; only the two status endpoints are
// the test's.
func TestStatusPageBrokenStreamInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: status page in chromium (slow); runs without -short")
	}
	b := startBrowser(t)
	srv := web.New(web.Config{Listen: "127.0.0.1:0"}, health.New(nil), metrics.NewSet(), slog.New(slog.DiscardHandler))
	var polls atomic.Int32
	stop := make(chan struct{})
	firstPoll := make(chan struct{})
	sent := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.HandleFunc("/api/status", func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) == 1 {
			defer close(firstPoll)
		}
		http.Error(w, `{"error":"not yet"}`, http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/api/status/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		select {
		case <-firstPoll:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "retry: 60000\n\nevent: status\ndata: {\"node\":\"gw\",\"commits\":9***5}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-sent:
		default:
			close(sent)
		}
		select { // held open: the page must not wait for an error to poll
		case <-r.Context().Done():
		case <-stop:
		}
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(stop) }) // runs first: the stream ends before the server closes

	b.navigate(hs.URL + "/")
	select {
	case <-sent:
	case <-time.After(30 * time.Second):
		t.Fatal("the page never opened the stream")
	}
	deadline := time.Now().Add(30 * time.Second)
	for polls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the page did not fall back to polling after a broken stream document (%s is %q)", "#conn", b.text("#conn"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.waitText("the page offline, not live", "#conn", 30*time.Second, func(s string) bool { return s == "offline" || s == "polling" })
}
