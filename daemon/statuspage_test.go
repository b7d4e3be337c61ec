package daemon_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/daemon/web"
	"github.com/edgerelay/edgerelay/store"
)

// seedTruncated adds to sink's dead letters the truncated record of an oversize event,
// as the pipeline keeps one (pipeline.TruncatedAttr).
func seedTruncated(t *testing.T, path, sink string) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	data, err := (&adapters.Event{ID: "huge-1", Kind: adapters.KindRaw, Topic: "t", Payload: []byte(`{"a":`),
		Attrs: map[string]string{pipeline.TruncatedAttr: "300000"}}).MarshalBinary()
	require.NoError(t, err)
	var b store.Batch
	b.DeadLetter(&store.Entry{Sink: sink, Data: data}, "too_large: 300000 bytes")
	require.NoError(t, db.Commit(&b))
}

func statusOf(t *testing.T, base string) (web.Status, string) {
	t.Helper()
	code, body := get(t, base+"/api/status")
	require.Equal(t, 200, code, body)
	var st web.Status
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	return st, body
}

func sinkOf(st web.Status, name string) web.SinkInfo {
	for _, s := range st.Sinks {
		if s.Name == name {
			return s
		}
	}
	return web.SinkInfo{}
}

func action(t *testing.T, base, what, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/api/dead-letters/"+what, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}

// TestStatusPageAPI runs a daemon with dead letters (two ordinary ones and a truncated
// record), a sink whose peer refuses and echoes the sink's secret back in every form,
// and an admin token, and checks /api/status and its stream against what the daemon
// holds; then retries and drops dead letters through the running daemon, with the
// rules of queue retry, and sees the retried events delivered at once.
func TestStatusPageAPI(t *testing.T) {
	const token = "admin-token-for-the-page-test"
	const sec = `s3cr3t/"key<&>+=` // the echo sink's credential: every encoding differs
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	seed(t, path, "hook", 2, 2, "dead-a", "dead-b")
	seedTruncated(t, path, "hook")

	var open atomic.Bool
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !open.Load() {
			http.Error(w, "closed", http.StatusServiceUnavailable)
			return
		}
		var body struct {
			ID string `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, r.Header.Get("X-Edgerelay-Event-Id"))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		v := strings.TrimPrefix(a, "Token ")
		q, _ := json.Marshal(v)
		http.Error(w, fmt.Sprintf("denied %s | %s | %s | %s | %s", a, v, base64.StdEncoding.EncodeToString([]byte(v)),
			url.QueryEscape(v), q), http.StatusServiceUnavailable)
	}))
	t.Cleanup(echo.Close)
	seed(t, path, "echo", 1, 0)

	cfg, err := config.Parse([]byte(fmt.Sprintf(`
node: { id: gw-test }
store: { path: %s }
http: { listen: "127.0.0.1:0", admin_token: %q }
broker: { enabled: "false" }
sinks:
  - { name: hook, type: webhook, url: %q, retry: { initial: 10ms, max: 20ms } }
  - name: echo
    type: webhook
    url: %q
    auth_value: %q
    auth_header: Authorization
    retry: { initial: 10ms, max: 50ms }
routes: [ { to: [hook] } ]
`, path, token, hook.URL, echo.URL, "Token "+sec)), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "9.9.9"})
	require.NoError(t, err)
	stop := runDaemon(t, d)
	defer stop()
	base := "http://" + d.Addr()

	var st web.Status
	var body string
	require.Eventually(t, func() bool {
		st, body = statusOf(t, base)
		e := sinkOf(st, "echo")
		return sinkOf(st, "hook").Dead == 3 && e.LastError != "" && e.State == "retrying" && len(st.Errors) > 0
	}, 20*time.Second, 20*time.Millisecond, "the dead letters counted, the echo sink failing")
	require.Equal(t, "gw-test", st.Node)
	require.Equal(t, "9.9.9", st.Version)
	require.True(t, st.Admin)
	require.Equal(t, "degraded", st.State)
	require.Equal(t, "degraded", st.LED.Pattern)
	require.Equal(t, "amber", st.LED.Colour)
	require.NotEmpty(t, st.LED.Steps)
	require.False(t, st.LED.Fitted)
	require.Equal(t, "retrying", sinkOf(st, "echo").State)
	require.Equal(t, int64(1), sinkOf(st, "echo").Depth)
	require.False(t, sinkOf(st, "echo").Oldest.IsZero())
	require.Equal(t, "webhook", sinkOf(st, "hook").Type)
	require.Greater(t, st.Store.BytesWritten, uint64(0))
	require.Greater(t, st.Store.FileBytes, int64(0))
	require.Len(t, st.DeadLetters, 3)
	var cut web.DeadInfo
	for _, dl := range st.DeadLetters {
		require.Equal(t, "hook", dl.Sink)
		if dl.EventID == "huge-1" {
			cut = dl
		}
	}
	require.False(t, cut.Retryable)
	require.Contains(t, cut.Why, "truncated record of a 300000-byte event")
	require.NotContains(t, body, `"a":`, "no payload bytes")

	// Not the secret, in any form the redactor knows, nor the token: in the
	// document, in the stream, anywhere.
	_, stream := readStream(t, base)
	for _, text := range []string{body, stream} {
		for _, v := range []string{sec, token} {
			for _, f := range secret.Forms(v) {
				require.NotContains(t, text, f, "a form of a secret on the status page")
			}
		}
		require.NotContains(t, text, base64.StdEncoding.EncodeToString([]byte(sec)))
		require.NotContains(t, text, url.QueryEscape(sec))
	}
	require.Contains(t, sinkOf(st, "echo").LastError, "denied")
	require.Contains(t, stream, `"node":"gw-test"`)

	// The rules of queue retry: a named truncated record refuses the whole request.
	code, ans := action(t, base, "retry", token, fmt.Sprintf(`{"sink":"hook","seqs":[%d]}`, cut.Seq))
	require.Equal(t, http.StatusConflict, code, ans)
	require.Contains(t, ans, "cannot be retried")
	code, ans = action(t, base, "retry", token, `{"sink":"@rejected","all":true}`)
	require.Equal(t, http.StatusConflict, code, ans)
	code, ans = action(t, base, "retry", token, `{"sink":"gone","all":true}`)
	require.Equal(t, http.StatusNotFound, code, ans)

	// Retry all: the two events go back and are delivered now; the truncated one stays.
	open.Store(true)
	code, ans = action(t, base, "retry", token, `{"sink":"hook","all":true}`)
	require.Equal(t, http.StatusOK, code, ans)
	require.Contains(t, ans, `"done":2`)
	require.Contains(t, ans, "left in place")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	}, 20*time.Second, 10*time.Millisecond, "the retried events delivered")
	mu.Lock()
	require.ElementsMatch(t, []string{"dead-a", "dead-b"}, got)
	mu.Unlock()
	require.Eventually(t, func() bool {
		st, _ = statusOf(t, base)
		return sinkOf(st, "hook").Dead == 1 && len(st.DeadLetters) == 1 && sinkOf(st, "hook").Depth == 0
	}, 20*time.Second, 20*time.Millisecond, "one dead letter left, nothing queued")

	code, ans = action(t, base, "drop", token, fmt.Sprintf(`{"sink":"hook","seqs":[%d]}`, st.DeadLetters[0].Seq))
	require.Equal(t, http.StatusOK, code, ans)
	require.Contains(t, ans, `"done":1`)
	require.Eventually(t, func() bool {
		st, _ = statusOf(t, base)
		return sinkOf(st, "hook").Dead == 0 && len(st.DeadLetters) == 0
	}, 20*time.Second, 20*time.Millisecond, "no dead letter left")
	_, m := get(t, base+"/metrics")
	require.Contains(t, m, `edgerelay_dead_letters_kept{sink="hook"} 0`)
}

// readStream reads /api/status/stream until its first status event and returns the
// raw text read.
func readStream(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/api/status/stream")
	require.NoError(t, err)
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	var b strings.Builder
	for {
		line, err := rd.ReadString('\n')
		require.NoError(t, err)
		b.WriteString(line)
		if strings.HasPrefix(line, "data: ") {
			return resp.StatusCode, b.String()
		}
	}
}
