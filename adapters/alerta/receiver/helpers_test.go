package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	"github.com/edgerelay/edgerelay/adapters/alerta/receiver"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/internal/memtable"
)

// health records the source's conditions and signals when it serves.
type health struct {
	serving chan struct{}
	once    sync.Once
}

func (h *health) Set(c string, ok bool, _ string) {
	if c == "serving" && ok {
		h.once.Do(func() { close(h.serving) })
	}
}
func (h *health) SetDegraded(string, bool, string) {}

// node is a running receiver behind a real HTTP server.
type node struct {
	t    testing.TB
	src  *receiver.Source
	url  string // the server's URL (not base_url)
	rec  *adaptertest.Recorder
	logs *adaptertest.Buffer
	now  atomic.Int64 // Unix seconds of the source's clock; 0: the real time
	tab  *testTable

	mu      sync.Mutex     // guards rejectN
	rejectN map[string]int // Deps.Reject calls by reason
}

// rejects returns the Deps.Reject calls by reason.
func (n *node) rejects() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]int{}
	for k, v := range n.rejectN {
		out[k] = v
	}
	return out
}

// options of start.
type options struct {
	rec   []adaptertest.RecorderOption
	now   int64
	table *testTable
	// noRun leaves the source not running.
	noRun bool
	// pub, when set, is the publisher instead of the Recorder.
	pub adapters.Publisher
}

// start builds a source from cfg (defaults filled in), serves it on a real HTTP
// server and runs it with a Recorder.
func start(t testing.TB, cfg receiver.Config, o options) *node {
	t.Helper()
	n := &node{t: t, logs: &adaptertest.Buffer{}, tab: o.table}
	if n.tab == nil {
		n.tab = newTestTable()
	}
	n.now.Store(o.now)
	m := adaptertest.NewMux()
	h := &health{serving: make(chan struct{})}
	d := adapters.Deps{
		Name:   "federation",
		Log:    slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Health: h,
		HTTP:   m,
		Now: func() time.Time {
			if s := n.now.Load(); s != 0 {
				return time.Unix(s, 0)
			}
			return time.Now()
		},
		Table: n.tab.open,
		Reject: func(reason string) {
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.rejectN == nil {
				n.rejectN = map[string]int{}
			}
			n.rejectN[reason]++
		},
	}
	src, err := receiver.NewSource(cfg, d)
	require.NoError(t, err)
	n.src = src
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	n.url = srv.URL
	n.rec = adaptertest.NewRecorder(o.rec...)
	if o.noRun {
		return n
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var pub adapters.Publisher = n.rec
	if o.pub != nil {
		pub = o.pub
	}
	go func() { done <- src.Run(ctx, pub) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		n.rec.Wait()
	})
	<-h.serving
	return n
}

// config returns a valid config for base.
func config(base string) receiver.Config {
	c := receiver.DefaultConfig()
	c.BaseURL = base
	return c
}

// answer is an HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the answer's body.
func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(a.body, &m), "body %s", a.body)
	return m
}

// do sends a request to the node. hdr holds header name, value pairs; a "Host"
// pair sets the request's Host.
func (n *node) do(method, path string, body []byte, hdr ...string) answer {
	n.t.Helper()
	req, err := http.NewRequest(method, n.url+path, bytes.NewReader(body))
	require.NoError(n.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		switch {
		case hdr[i] == "Host":
			req.Host = hdr[i+1]
		case hdr[i+1] == "":
			req.Header.Del(hdr[i])
		case hdr[i] == "Content-Type":
			req.Header.Set(hdr[i], hdr[i+1])
		default:
			req.Header.Add(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(n.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(n.t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// hawkHeader signs a request as Alerta's forwarder does, for the public URL host
// and port.
func hawkHeader(t testing.TB, c hawk.Credentials, method, host string, port int, resource, ct string, body []byte, ts int64, nonce string) string {
	t.Helper()
	h, err := hawk.Header(c, hawk.Request{Method: method, Host: host, Port: port, Resource: resource, ContentType: ct, Body: body}, ts, nonce)
	require.NoError(t, err)
	return h
}

// alertBody is a minimal valid alert.
func alertBody(id, resource, event, severity string) []byte {
	return fmt.Appendf(nil, `{"id": %q, "resource": %q, "event": %q, "environment": "Production", "severity": %q, "service": ["Web"]}`, id, resource, event, severity)
}

// testTable is a persisted table the test can look into: the records and the
// flush behaviour.
type testTable struct {
	*memtable.Table // the records

	mu      sync.Mutex // guards the fields below
	flushes int
	// block, when set, makes Flush wait for it (or ctx); flushErr fails Flush.
	block    chan struct{}
	flushErr error
	called   chan struct{} // receives a value when Flush is called, if set
}

func newTestTable() *testTable { return &testTable{Table: memtable.New()} }

func (tt *testTable) open(name string, l adapters.TableLimits) (adapters.Table, error) {
	if name != receiver.TableName {
		return nil, fmt.Errorf("unexpected table %q", name)
	}
	return tt, nil
}

func (tt *testTable) Flush(ctx context.Context) error {
	tt.mu.Lock()
	tt.flushes++
	block, err, called := tt.block, tt.flushErr, tt.called
	tt.mu.Unlock()
	if called != nil {
		called <- struct{}{}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// keys returns the table's keys.
func (tt *testTable) keys() []string {
	var out []string
	tt.Range(func(k string, _ []byte) bool {
		out = append(out, k)
		return true
	})
	return out
}

// contains reports whether s contains any of subs.
func containsAny(s string, subs ...string) (string, bool) {
	for _, x := range subs {
		if x != "" && strings.Contains(s, x) {
			return x, true
		}
	}
	return "", false
}

// adaptersSecret is the type of the configuration's secrets.
type adaptersSecret = httpc.Secret

// writeFile writes a secret file.
func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// doCT is do with a Content-Type header also on an empty body.
func (n *node) doCT(method, path string, body []byte, ct string, hdr ...string) answer {
	n.t.Helper()
	return n.do(method, path, body, append([]string{"Content-Type", ct}, hdr...)...)
}
