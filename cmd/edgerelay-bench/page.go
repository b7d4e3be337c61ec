//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The status page's cost (-page, issue 12 item 8): the bytes a browser's first load
// transfers, and the daemon's memory and CPU while idle (no events) with nobody
// watching, with the page open on its event stream (what a browser does: one stream,
// read as it comes), and with the page polling /api/status every 5 s (its fallback),
// each over -page-seconds against a fresh daemon.

// pageCase is one idle measurement.
type pageCase struct {
	name     string
	rss      float64 // MiB at the end
	cpu      float64 // daemon CPU seconds over the window
	seconds  float64
	requests int    // polls made, or stream events read
	bytes    int64  // what the page received over the window
	weight   []page // first load, per file (only the first case fills it)
}

// page is one file of the first load.
type page struct {
	path    string
	raw, gz int64
}

// pageFiles are what a browser fetches on a first load of the page.
var pageFiles = []string{"/", "/ui/app.css", "/ui/app.js", "/ui/icon.svg"}

// pageWeight fetches the page's files from the daemon as a browser does (Accept
// text/html for /), once plain and once with gzip, and returns their sizes on the
// wire (bodies as sent, without the HTTP headers).
func pageWeight(ctx context.Context, addr string) ([]page, error) {
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	var out []page
	for _, p := range pageFiles {
		var f page
		f.path = p
		for _, gz := range []bool{false, true} {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+p, nil)
			req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
			if gz {
				req.Header.Set("Accept-Encoding", "gzip, deflate, br")
			}
			resp, err := cl.Do(req)
			if err != nil {
				return nil, err
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return nil, fmt.Errorf("GET %s: HTTP %d", p, resp.StatusCode)
			}
			if gz {
				f.gz = n
			} else {
				f.raw = n
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// pageIdle runs one case: mode "" (nobody watching), "stream" or "poll".
func (b *bench) pageIdle(ctx context.Context, mode string, window time.Duration, weigh bool) (pageCase, error) {
	out := pageCase{name: map[string]string{"": "no page open", "stream": "page open, event stream",
		"poll": "page open, polling every 5 s"}[mode]}
	err := b.session(ctx, b.hook, cfgOpts{}, "status page: "+out.name, 1, func(d *daemon, _ []mqtt.Client) {
		sleepCtx(ctx, 2*time.Second) // the start settles
		if weigh {
			w, err := pageWeight(ctx, d.httpAddr)
			if err != nil {
				b.problem("page weight: %v", err)
			}
			out.weight = w
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan struct{})
		switch mode {
		case "stream":
			go func() { // exits when wctx ends
				defer close(done)
				out.requests, out.bytes = readPageStream(wctx, d.httpAddr)
			}()
		case "poll":
			go func() { // exits when wctx ends
				defer close(done)
				cl := &http.Client{Timeout: 5 * time.Second}
				t := time.NewTicker(5 * time.Second)
				defer t.Stop()
				for {
					if resp, err := cl.Get("http://" + d.httpAddr + "/api/status"); err == nil {
						n, _ := io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						out.requests++
						out.bytes += n
					}
					select {
					case <-wctx.Done():
						return
					case <-t.C:
					}
				}
			}()
		default:
			close(done)
		}
		c0, t0 := cpuSeconds(d.pid()), time.Now()
		sleepCtx(ctx, window)
		out.cpu, out.seconds = cpuSeconds(d.pid())-c0, time.Since(t0).Seconds()
		out.rss = b.proc(d, "status", "VmRSS") / 1024
		cancel()
		<-done
	})
	return out, err
}

// readPageStream reads /api/status/stream as the page does until ctx ends, and
// returns the status events and bytes it got.
func readPageStream(ctx context.Context, addr string) (events int, bytes int64) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/status/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	for {
		line, err := rd.ReadString('\n')
		bytes += int64(len(line))
		if strings.HasPrefix(line, "event: status") {
			events++
		}
		if err != nil {
			return events, bytes
		}
	}
}

// onlyPage runs the status page's cases runs times and prints their tables.
func (b *bench) onlyPage(ctx context.Context, runs int, window time.Duration) error {
	var cases []pageCase
	for i := range runs {
		for _, mode := range []string{"", "stream", "poll"} {
			c, err := b.pageIdle(ctx, mode, window, i == 0 && mode == "")
			if err != nil {
				return err
			}
			cases = append(cases, c)
		}
	}
	var w strings.Builder
	if len(cases) > 0 && len(cases[0].weight) > 0 {
		fmt.Fprintf(&w, "| file | bytes | gzip |\n|---|---|---|\n")
		var raw, gz int64
		for _, f := range cases[0].weight {
			fmt.Fprintf(&w, "| `%s` | %d | %d |\n", f.path, f.raw, f.gz)
			raw += f.raw
			gz += f.gz
		}
		fmt.Fprintf(&w, "| first load | %d | %d |\n\n", raw, gz)
	}
	fmt.Fprintf(&w, "| case | window | daemon CPU | CPU share | RSS at the end | page received |\n|---|---|---|---|---|---|\n")
	for _, c := range cases {
		recv := "—"
		if c.requests > 0 || c.bytes > 0 {
			unit := "polls"
			if strings.Contains(c.name, "stream") {
				unit = "status events"
			}
			recv = fmt.Sprintf("%d %s, %d bytes", c.requests, unit, c.bytes)
		}
		fmt.Fprintf(&w, "| %s | %.0f s | %.2f s | %.3f%% | %.1f MiB | %s |\n", c.name, c.seconds, c.cpu,
			100*c.cpu/c.seconds, c.rss, recv)
	}
	fmt.Print(w.String())
	if len(b.problems) > 0 {
		fmt.Println("\nDaemon problems:")
		for _, pr := range b.problems {
			fmt.Println("- " + pr)
		}
	}
	return nil
}
