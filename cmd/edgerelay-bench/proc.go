//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cfgOpts varies the generated daemon configuration.
type cfgOpts struct {
	noSync    bool   // store.unsafe_no_sync: the durability-off baseline
	brokerOff bool   // no embedded broker and no source
	fastRetry bool   // short sink retry backoff, for the sink-outage case
	ilert     bool   // an ilert sink (at the ilert API fake) behind the ilert route transform
	edge      string // W10: the ilert API fake's base URL; an ilert_edge source polling it replaces the broker and the MQTT source
	noHold    bool   // W11 (b′): store.deliver_window off, so an event is committed within the commit window even while its sink is healthy
	alerta    string // W11: the Alerta API fake's BASE_URL; an alerta source and an alerta sink forwarding to it replace the broker, the MQTT source and the webhook
	events    string // W12: lifecycle events to this NATS URL; "" leaves them off
	relayed   bool   // W12: with events, edge.alert.relayed for every delivery
	warns     bool   // the daemon is expected to log warnings (W12's unreachable broker)
	commitWin string // store.commit_window; "" means 5ms (-flash -commit-window)
}

// daemon is one edgerelay child process.
type daemon struct {
	cmd                       *exec.Cmd
	dir, httpAddr, brokerAddr string
	started                   time.Time     // just before exec
	exited                    chan struct{} // closed once cmd.Wait has returned
	waitErr                   error         // cmd.Wait's result, set before exited is closed
}

// launch writes a configuration into a fresh directory under tmp and starts the
// daemon, without waiting for it to be ready. sinkURL is the webhook's URL, or with
// o.ilert the base URL of the ilert API.
func launch(bin, tmp, sinkURL string, o cfgOpts) (*daemon, error) {
	dir, err := os.MkdirTemp(tmp, "run-")
	if err != nil {
		return nil, fmt.Errorf("make run directory: %w", err)
	}
	d := &daemon{dir: dir, httpAddr: freeAddr(), brokerAddr: freeAddr(), exited: make(chan struct{})}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(configYAML(d, sinkURL, o)), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return nil, fmt.Errorf("create daemon log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	d.cmd = exec.Command(bin, "run", "-c", cfg)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the driver
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start daemon: %w", err)
	}
	// Exits when the child exits; stop makes sure it does.
	go func() { d.waitErr = d.cmd.Wait(); close(d.exited) }()
	return d, nil
}

// configYAML renders the daemon configuration.
func configYAML(d *daemon, sinkURL string, o cfgOpts) string {
	broker := fmt.Sprintf(`{ enabled: "true", listen: %s }`, d.brokerAddr)
	keyPath := ", key_path: key"
	if o.ilert {
		keyPath = "" // the transform keys each event by its alertKey
	}
	sources := fmt.Sprintf("sources:\n  - { name: bench, type: mqtt, url: \"tcp://%s\", topics: [\"bench/#\"], qos: 1%s }\n", d.brokerAddr, keyPath)
	from, retry := "from: [bench], ", ""
	if o.brokerOff {
		broker, sources, from = `{ enabled: "false" }`, "", ""
	}
	if o.edge != "" {
		broker, from = `{ enabled: "false" }`, "from: [edge], "
		sources = fmt.Sprintf("sources:\n  - { name: edge, type: ilert_edge, api_host: %q, key: %q, poll_interval: 5s }\n", o.edge, edgeBenchKey)
	}
	if o.fastRetry {
		retry = ", retry: { initial: 100ms, max: 1s }"
	}
	if o.alerta != "" {
		return alertaConfigYAML(d, o)
	}
	sink := fmt.Sprintf(`{ name: hook, type: webhook, url: "%s", max_in_flight: 8%s }`, sinkURL, retry)
	route := fmt.Sprintf("{ %sto: [hook] }", from)
	if o.ilert {
		// What `edgerelay daemon -m … -e bench/alerts` builds, with the API at the fake.
		sink = fmt.Sprintf(`{ name: ilert, type: ilert, api_host: "%s", heartbeat_host: "%s", events_path: mqtt, max_in_flight: 8%s }`, sinkURL, sinkURL, retry)
		route = fmt.Sprintf("{ %sto: [ilert], transform: { type: ilert, consumer: mqtt, event_topic: bench/alerts } }", from)
	}
	events := ""
	if o.events != "" {
		events = fmt.Sprintf("events: { enabled: true, adapter: nats, core_name: bench, alert_relayed: %t, nats: { urls: [%q] } }\n", o.relayed, o.events)
	}
	return fmt.Sprintf(`log: { level: warn }
store: { path: %s, commit_window: %s, unsafe_no_sync: %t }
http: { listen: %s }
broker: %s
%ssinks:
  - %s
routes:
  - %s
%s`, filepath.Join(d.dir, "queue.db"), commitWindow(o), o.noSync, d.httpAddr, broker, sources, sink, route, events)
}

// commitWindow is o's store.commit_window.
func commitWindow(o cfgOpts) string {
	if o.commitWin == "" {
		return "5ms"
	}
	return o.commitWin
}

// waitHealthy polls GET /health every 5 ms until it answers 204, at most limit.
func (d *daemon) waitHealthy(ctx context.Context, limit time.Duration) error {
	cl := &http.Client{Timeout: time.Second}
	for end := time.Now().Add(limit); time.Now().Before(end); {
		select {
		case <-d.exited:
			return fmt.Errorf("daemon exited before it was healthy (%v): %s", d.waitErr, d.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if resp, err := cl.Get("http://" + d.httpAddr + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
	}
	return fmt.Errorf("daemon not healthy after %s: %s", limit, d.logTail())
}

// stop sends SIGTERM, waits up to 10 s, then kills; it reports any unclean exit.
func (d *daemon) stop() error {
	select {
	case <-d.exited:
		return fmt.Errorf("daemon had exited by itself (%v): %s", d.waitErr, d.logTail())
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("daemon ignored SIGTERM for 10 s and was killed: %s", d.logTail())
	}
	if d.waitErr != nil {
		return fmt.Errorf("daemon exit after SIGTERM: %v: %s", d.waitErr, d.logTail())
	}
	return nil
}

// logTail returns the last five lines the daemon logged (warn level and above).
func (d *daemon) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "daemon.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("listen on loopback: %v", err))
	}
	defer l.Close()
	return l.Addr().String()
}

// procField returns the first number after "name:" in /proc/<pid>/<file>: kB in
// status, bytes in io.
func procField(pid int, file, name string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name && err == nil {
			return strconv.ParseFloat(strings.Fields(v)[0], 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/%s (%v)", name, pid, file, err)
}

// cpuSeconds is the user+system CPU time of pid, from /proc/<pid>/stat (USER_HZ = 100).
func cpuSeconds(pid int) float64 {
	u, s := cpuSplit(pid)
	return u + s
}

// cpuSplit is the user and the system CPU time of pid in seconds, from
// /proc/<pid>/stat (USER_HZ = 100).
func cpuSplit(pid int) (user, sys float64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	_, rest, _ := strings.Cut(string(b), ") ")
	if f := strings.Fields(rest); len(f) > 12 {
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		return u / 100, s / 100
	}
	return 0, 0
}

// goStats are the daemon's Go runtime counters, from its /metrics (the Go and process
// metrics VictoriaMetrics writes there).
type goStats struct {
	mallocs, allocBytes, gcSeconds float64
}

// goStatsOf scrapes the daemon's /metrics. A scrape itself allocates a few hundred
// objects in the daemon, which is noise next to a burst's events.
func goStatsOf(httpAddr string) (goStats, error) {
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return goStats{}, fmt.Errorf("scrape the daemon's metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return goStats{}, fmt.Errorf("scrape the daemon's metrics: %w", err)
	}
	var g goStats
	want := map[string]*float64{
		"go_memstats_mallocs_total":     &g.mallocs,
		"go_memstats_alloc_bytes_total": &g.allocBytes,
		"go_gc_cpu_seconds_total":       &g.gcSeconds,
	}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, " ")
		if dst := want[name]; ok && dst != nil {
			if *dst, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				found++
			}
		}
	}
	if found != len(want) {
		return g, fmt.Errorf("the daemon's /metrics lacks some of the Go runtime counters (%d of %d found)", found, len(want))
	}
	return g, nil
}

// selfCPU is this process's user+system CPU time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// machineCPU returns busy and total jiffies over all CPUs from /proc/stat.
func machineCPU() (busy, total float64) {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	for i, f := range strings.Fields(line) {
		v, _ := strconv.ParseFloat(f, 64)
		if i >= 1 && i <= 8 { // user nice system idle iowait irq softirq steal
			total += v
			if i != 4 && i != 5 {
				busy += v
			}
		}
	}
	return busy, total
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
