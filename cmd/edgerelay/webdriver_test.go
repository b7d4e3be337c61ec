package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// A minimal W3C WebDriver client (https://www.w3.org/TR/webdriver2/) on net/http and
// encoding/json, enough to drive Debian's headless chromium through chromedriver for
// the status page's end-to-end test: a session, navigation, finding elements, clicks,
// typing, scripts, window size and screenshots. No browser-automation module.

// Debian's browser and its driver.
const (
	chromiumBin     = "/usr/bin/chromium"
	chromedriverBin = "/usr/bin/chromedriver"
)

// webElementKey is the key under which WebDriver returns an element reference.
const webElementKey = "element-6066-11e4-a52e-4f735466cecf"

// browser is one WebDriver session on its own chromedriver.
type browser struct {
	t    *testing.T
	base string // the driver's URL
	sid  string // the session
	hc   *http.Client
}

// startBrowser starts chromedriver on a free port and a headless chromium session
// with a profile in a temporary directory; both end with the test. A machine without
// them skips (CI=true fails, see adaptertest.Missing).
func startBrowser(t *testing.T) *browser {
	t.Helper()
	for _, bin := range []string{chromiumBin, chromedriverBin} {
		if _, err := os.Stat(bin); err != nil {
			adaptertest.Missing(t, "the status page test needs %s (apt-get install -y chromium chromium-driver)", bin)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	log := &adaptertest.Buffer{}
	cmd := exec.Command(chromedriverBin, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // exits with chromedriver
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	b := &browser{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), hc: &http.Client{Timeout: 60 * time.Second}}
	waitUntil(t, "chromedriver to answer", 20*time.Second, func() bool {
		resp, err := b.hc.Get(b.base + "/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	profile := t.TempDir()
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromiumBin,
			"args": []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + filepath.Join(profile, "chromium")},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("POST", "/session", caps, &sess); err != nil {
		t.Fatalf("new WebDriver session: %v\nchromedriver log:\n%s", err, log.String())
	}
	b.sid = sess.SessionID
	t.Cleanup(func() { _ = b.call("DELETE", "/session/"+b.sid, nil, nil) })
	return b
}

// call sends one WebDriver command and decodes the answer's "value" into out.
func (b *browser) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: HTTP %d, not JSON: %.200s", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode != 200 {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(env.Value, &e)
		return fmt.Errorf("%s %s: %s: %s", method, path, e.Error, e.Message)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (b *browser) must(method, path string, in, out any) {
	b.t.Helper()
	require.NoError(b.t, b.call(method, "/session/"+b.sid+path, in, out))
}

// navigate loads url.
func (b *browser) navigate(url string) { b.must("POST", "/url", map[string]string{"url": url}, nil) }

// find returns the element css selects, or "" when there is none.
func (b *browser) find(css string) string {
	var el map[string]string
	if err := b.call("POST", "/session/"+b.sid+"/element", map[string]string{"using": "css selector", "value": css}, &el); err != nil {
		return ""
	}
	return el[webElementKey]
}

// text returns the rendered text of the element css selects, or "" when there is none.
func (b *browser) text(css string) string {
	id := b.find(css)
	if id == "" {
		return ""
	}
	var s string
	if err := b.call("GET", "/session/"+b.sid+"/element/"+id+"/text", nil, &s); err != nil {
		return "" // gone (re-rendered) since find
	}
	return s
}

// click clicks the element css selects, as a user would (it must be visible).
func (b *browser) click(css string) {
	b.t.Helper()
	id := b.find(css)
	require.NotEmpty(b.t, id, "no element %s", css)
	b.must("POST", "/element/"+id+"/click", map[string]any{}, nil)
}

// typeInto types s into the element css selects.
func (b *browser) typeInto(css, s string) {
	b.t.Helper()
	id := b.find(css)
	require.NotEmpty(b.t, id, "no element %s", css)
	b.must("POST", "/element/"+id+"/value", map[string]string{"text": s}, nil)
}

// script runs js (a function body) in the page and decodes what it returns into out.
func (b *browser) script(js string, out any, args ...any) {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	b.must("POST", "/execute/sync", map[string]any{"script": js, "args": args}, out)
}

// resize sets the window's outer size.
func (b *browser) resize(w, h int) {
	b.must("POST", "/window/rect", map[string]int{"width": w, "height": h}, nil)
}

// screenshot returns a PNG of the viewport.
func (b *browser) screenshot() []byte {
	b.t.Helper()
	var s string
	b.must("GET", "/screenshot", nil, &s)
	png, err := base64.StdEncoding.DecodeString(s)
	require.NoError(b.t, err)
	return png
}

// waitText waits until the text of css satisfies ok, and returns it.
func (b *browser) waitText(what, css string, timeout time.Duration, ok func(string) bool) string {
	b.t.Helper()
	var s string
	deadline := time.Now().Add(timeout)
	for {
		if s = b.text(css); ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %s waiting for %s (%s is %q)", timeout, what, css, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
