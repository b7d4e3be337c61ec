package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// updateScreenshots makes TestStatusPageInChromium write docs/img/status-page.png and
// docs/img/status-page-phone.png (also EDGERELAY_UPDATE_SCREENSHOTS=1).
var updateScreenshots = flag.Bool("update-screenshots", false, "write the status page screenshots under docs/img")

// hookTarget is the webhook peer of the status page test: it refuses events whose id
// starts with "bad-" with a permanent 400 until told to take them, and counts every
// id it accepted.
type hookTarget struct {
	srv     *httptest.Server
	takeBad atomic.Bool
	mu      sync.Mutex // guards seen
	seen    map[string]int
}

func newHookTarget(t *testing.T) *hookTarget {
	h := &hookTarget{seen: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID string `json:"id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ID == "" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if strings.HasPrefix(body.ID, "bad-") && !h.takeBad.Load() {
			http.Error(w, "unknown alert source", http.StatusBadRequest) // permanent: a dead letter
			return
		}
		h.mu.Lock()
		h.seen[body.ID]++
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookTarget) got(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[id]
}

// TestStatusPageInChromium is issue 12 item 2 end to end: the real daemon (embedded
// broker → mqtt source → webhook sinks), its status page in Debian's headless
// chromium over WebDriver. The page loads from the stream, its counters move while
// events flow, a dead letter (the sink's permanent 400) is retried from the page with
// the admin token and then delivered, and a secret the other sink's peer echoes into
// its errors never reaches the page.
func TestStatusPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: status page in chromium (slow); runs without -short")
	}
	b := startBrowser(t)
	const token = "page-admin-token-7f3a9c"
	const secret = "archive-secret-value-41d2" // the archive sink's credential, echoed by its peer
	hook := newHookTarget(t)
	archive := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance; you sent "+r.Header.Get("Authorization"), http.StatusServiceUnavailable)
	}))
	t.Cleanup(archive.Close)

	dir := t.TempDir()
	brokerAddr, httpAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
node: { id: gw-hall3-01 }
store: { path: %s/queue.db }
http: { listen: %s, admin_token: %s }
broker: { enabled: "true", listen: %s }
sources:
  - { name: plant, type: mqtt, url: tcp://%s, topics: ["plant/#"], qos: 1 }
sinks:
  - name: hook
    type: webhook
    url: %s
    retry: { initial: 20ms, max: 200ms }
  - name: archive
    type: webhook
    url: %s
    auth_value: "Bearer %s"
    retry: { initial: 1s, max: 5s }
routes:
  - { from: [plant], topics: ["plant/#"], to: [hook] }
  - { from: [plant], topics: ["plant/line1/#"], to: [archive] }
`, dir, httpAddr, token, brokerAddr, brokerAddr, hook.srv.URL, archive.URL, secret))
	d := startDaemon(t, nil, "run", "-c", cfg)
	base := "http://" + httpAddr
	waitReady(t, d, base+"/ready")

	c := mqttClient(t, brokerAddr, "plc-page")
	defer c.Disconnect(100)
	publish := func(topic, id string) {
		tok := c.Publish(topic, 1, false, fmt.Sprintf(`{"id":%q,"summary":"pressure high"}`, id))
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	// A steady trickle while the page is open: the counters must move.
	stop := make(chan struct{})
	var flowing sync.WaitGroup
	flowing.Add(1)
	go func() { // exits when stop closes
		defer flowing.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			tok := c.Publish("plant/line2/alarms", 1, false, fmt.Sprintf(`{"id":"ev-%05d","summary":"flow"}`, i))
			tok.WaitTimeout(5 * time.Second)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		flowing.Wait()
	}()
	publish("plant/line1/alarms", "ev-archived") // queued for archive, which is down

	b.resize(1280, 1300)
	b.navigate(base + "/")
	b.waitText("the node's name", "#node", 20*time.Second, func(s string) bool { return s == "gw-hall3-01" })
	b.waitText("the live stream", "#conn", 20*time.Second, func(s string) bool { return s == "live" })
	delivered := func() int {
		n, _ := strconv.Atoi(b.text(`#sinks tr[data-key="hook"] td.delivered`))
		return n
	}
	first := delivered()
	waitUntil(t, "the hook's delivered counter to move on the page", 30*time.Second, func() bool { return delivered() > first })
	second := delivered()
	waitUntil(t, "it to move again", 30*time.Second, func() bool { return delivered() > second })
	b.waitText("archive retrying", `#sinks tr[data-key="archive"] td:nth-child(2)`, 30*time.Second,
		func(s string) bool { return s == "retrying" || s == "down" })
	b.waitText("a rate", `#sinks tr[data-key="hook"] td.rate`, 30*time.Second, func(s string) bool { return s != "" && s != "0.0" })

	// A dead letter: the hook refuses it for good.
	publish("plant/line2/alarms", "bad-0001")
	b.waitText("the dead letter on the page", `#dead tbody tr td.err`, 30*time.Second,
		func(s string) bool { return strings.Contains(s, "400") })
	var rows int
	b.script(`return document.querySelectorAll("#dead tbody tr").length`, &rows)
	require.Equal(t, 1, rows, "one dead letter")
	require.True(t, b.find(`#dead td.act`) != "", "the actions column exists")
	var hidden bool
	b.script(`return document.querySelector("#dead td.act").hidden`, &hidden)
	require.True(t, hidden, "no retry button before the token is given")

	// Unlock with the token: typed into the page, kept in sessionStorage.
	b.typeInto("#token", token)
	b.click("#unlockbtn")
	var stored string
	b.script(`return sessionStorage.getItem("edgerelay-admin-token")`, &stored)
	require.Equal(t, token, stored)
	var cookies []any
	b.must("GET", "/cookie", nil, &cookies)
	require.Empty(t, cookies, "the token is not a cookie")
	b.waitText("the retry button", `#dead tbody tr td.act button.retry`, 10*time.Second, func(s string) bool { return s == "retry" })
	time.Sleep(2500 * time.Millisecond) // let the page show a rate and ages for the screenshots
	b.script(`window.scrollTo(0,0); return 0`, nil)
	desktop := b.screenshot()

	hook.takeBad.Store(true)
	b.click(`#dead tbody tr td.act button.retry`)
	b.waitText("the action's answer", "#msg", 15*time.Second, func(s string) bool {
		return strings.Contains(s, "1 dead letter(s) of hook queued for delivery again")
	})
	waitUntil(t, "the retried event at the webhook", 30*time.Second, func() bool { return hook.got("bad-0001") == 1 })
	b.waitText("the dead letter gone", "#deadnone", 20*time.Second, func(s string) bool { return s == "No dead letters." })

	// The page never shows the archive's echoed secret, nor the admin token.
	var html string
	b.script(`return document.documentElement.outerHTML`, &html)
	require.NotContains(t, html, secret)
	require.NotContains(t, html, token)
	require.Contains(t, b.text(`#sinks tr[data-key="archive"] td.err`), "maintenance")

	close(stop)
	flowing.Wait()

	// Phone width.
	b.resize(390, 1700)
	b.navigate(base + "/")
	b.waitText("the live stream", "#conn", 20*time.Second, func(s string) bool { return s == "live" })
	time.Sleep(1500 * time.Millisecond)
	var width int
	b.script(`return document.documentElement.scrollWidth`, &width)
	require.LessOrEqual(t, width, 400, "no horizontal scrolling at phone width")
	phone := b.screenshot()

	if *updateScreenshots || os.Getenv("EDGERELAY_UPDATE_SCREENSHOTS") == "1" {
		img := filepath.Join("..", "..", "docs", "img")
		require.NoError(t, os.MkdirAll(img, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(img, "status-page.png"), desktop, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(img, "status-page-phone.png"), phone, 0o644))
		t.Logf("wrote %s/status-page.png (%d bytes) and status-page-phone.png (%d bytes)", img, len(desktop), len(phone))
	}
	require.False(t, d.exited(), "daemon still runs:\n%s", d.stderr.String())
}
