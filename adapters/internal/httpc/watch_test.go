package httpc

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSendContextWatch: a connection watches its sender's long-lived context once;
// that context's end interrupts a request in flight under it, never one under
// another context, nor an idle connection's next request.
func TestSendContextWatch(t *testing.T) {
	release := make(chan struct{})
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}, nil)
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for the handlers
	c, err := NewClient(10*time.Second, TLSConfig{})
	require.NoError(t, err)
	send := func(ctx context.Context, path string) error {
		tgt, err := NewTarget(http.MethodPost, srv.URL+path)
		require.NoError(t, err)
		_, err = Send(ctx, c, &Request{Target: tgt, Body: []byte("x")}, 1024)
		return err
	}

	lane, cancelLane := context.WithCancel(context.Background())
	for range 3 {
		require.NoError(t, send(lane, "/"))
	}
	cancelLane() // while the connection is idle
	time.Sleep(10 * time.Millisecond)
	other, cancelOther := context.WithCancel(context.Background())
	defer cancelOther()
	require.NoError(t, send(other, "/"), "the ended context does not interrupt another's request")
	require.EqualValues(t, 1, srv.conns.Load())

	err = send(lane, "/")
	require.ErrorIs(t, err, context.Canceled, "a request under an ended context fails")

	go func() {
		time.Sleep(50 * time.Millisecond)
		cancelOther()
	}()
	start := time.Now()
	err = send(other, "/slow")
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 5*time.Second)

	var ue interface{ Timeout() bool }
	require.False(t, errors.As(err, &ue) && ue.Timeout() && !errors.Is(err, context.Canceled))
	require.NoError(t, send(context.Background(), "/"), "a context without an end needs no watch")
}
