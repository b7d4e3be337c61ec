package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	_ "github.com/edgerelay/edgerelay/adapters/all"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
)

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// TestLifecycle runs a whole daemon in-process: embedded broker → pipeline → webhook,
// checks that every event of each key arrives in order, then stops it and checks that
// no goroutine is left behind and that the event bus told the story.
func TestLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer hook.Close()

	brokerAddr := freePort(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "true", listen: %s }
sources: [ { name: local, type: mqtt, url: "tcp://%s", topics: ["a/#"] } ]
sinks: [ { name: hook, type: webhook, url: %q } ]
routes: [ { from: [local], to: [hook] } ]
`, t.TempDir(), brokerAddr, brokerAddr, hook.URL)), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	require.Equal(t, brokerAddr, d.BrokerAddr())
	sub := d.Events().Subscribe("test", 4096)

	stop := runDaemon(t, d)

	resp, err := http.Get("http://" + d.Addr() + "/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("pub"))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	// Two keys (the topics), interleaved: each must arrive whole and in publish order.
	const n = 20
	want := map[string][]string{}
	for i := 0; i < n; i++ {
		topic := []string{"a/b", "a/c"}[i%2]
		body := fmt.Sprintf(`{"topic":%q,"n":%d}`, topic, i)
		want[topic] = append(want[topic], body)
		tok := c.Publish(topic, 1, false, body)
		require.True(t, tok.WaitTimeout(5*time.Second))
		require.NoError(t, tok.Error())
	}
	c.Disconnect(50)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	}, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	perKey := map[string][]string{}
	for _, body := range got {
		var ev struct{ Topic string }
		require.NoError(t, json.Unmarshal([]byte(body), &ev), body)
		perKey[ev.Topic] = append(perKey[ev.Topic], body)
	}
	mu.Unlock()
	require.Equal(t, want, perKey, "every event of each key (the topic) arrives once, in publish order")

	stop()
	hook.CloseClientConnections()

	sub.Close()
	var kinds []events.Kind
	count := map[events.Kind]int{}
	var last uint64
	for e := range sub.C() {
		require.Greater(t, e.Seq, last)
		last = e.Seq
		if count[e.Kind] == 0 {
			kinds = append(kinds, e.Kind)
		}
		count[e.Kind]++
		switch e.Kind {
		case events.Started:
			require.Equal(t, "test", e.Version)
			require.Equal(t, []string{"local"}, e.Sources)
			require.Equal(t, []string{"hook"}, e.Sinks)
		case events.Delivered:
			require.Equal(t, "hook", e.Sink)
			require.Equal(t, "local", e.Source)
			require.Contains(t, []string{"a/b", "a/c"}, e.Key)
		case events.Stopping:
			require.Zero(t, e.Queued)
			require.NotEmpty(t, e.Reason)
		}
	}
	require.Zero(t, sub.Dropped())
	require.Equal(t, 20, count[events.Received])
	require.Equal(t, 20, count[events.Delivered])
	require.Equal(t, 1, count[events.Started])
	require.Equal(t, 1, count[events.Ready])
	require.Equal(t, 1, count[events.Stopping])
	require.Equal(t, 1, count[events.SinkConnected])
	require.Positive(t, count[events.ReadinessChanged])
	at := map[events.Kind]int{}
	for i, k := range kinds {
		at[k] = i
	}
	require.Less(t, at[events.Started], at[events.Ready], "started, then ready (%v)", kinds)
	require.Less(t, at[events.Ready], at[events.Stopping], "ready, then stopping (%v)", kinds)
}

// runDaemon runs d in the background and returns the function that stops it: it
// cancels Run's context and requires Run to return nil within 15 s.
func runDaemon(t *testing.T, d *daemon.Daemon) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }() // exits when ctx is cancelled
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-runErr:
			require.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}
