//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/alertatest"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
)

// W11: Alerta clients in the driver post alerts to the daemon's `alerta` source; its
// `alerta` sink forwards each, signed with Hawk, to the Alerta API fake
// (adapters/alerta/alertatest) served in this process behind the recording sink.

// The credentials of W11: the clients' API key at the receiver and the Hawk identity
// the sink signs with at the fake. They are the benchmark's own, in its generated
// configuration only.
const (
	fedAPIKey  = "bench-alerta-api-key-3f9c1e7a"
	fedHawkID  = "bench-gateway"
	fedHawkKey = "bench-hawk-key-9b2d4f6e8a1c3e5f"
)

// The shape of W11's load.
const (
	fedClients   = 16                     // throughput: concurrent keep-alive clients
	fedResources = 64                     // distinct resources, so de-duplication and correlation happen
	fedRate      = 200                    // latency phases: alerts per second from one client
	fedDelay     = 200 * time.Millisecond // phase (b): the fake's delay per request
)

// The latency phases: the fake healthy, slow (fedDelay per request), slow with the
// store's deliver window off, and down (connection refused while the alerts are
// posted, then back).
const (
	fedHealthy = iota
	fedSlow
	fedSlowNoHold
	fedDown
	fedPhases
)

// fedPhaseNames name the phases in the report.
var fedPhaseNames = [fedPhases]string{"(a) healthy", "(b) 200 ms per request", "(b′) 200 ms per request, `store.deliver_window: -1s`", "(c) down, then back"}

// fedOut is one W11 run.
type fedOut struct {
	n                        int     // alerts posted in the throughput burst
	answered                 int     // of those, answered 201
	rate                     float64 // alerts answered 201 per second, first POST to last answer
	e2e                      float64 // alerts/s, first POST to the last new id recorded at the fake
	unique, dups, outOfOrder int     // at the fake
	alertsAtFake             int     // alerts the fake's book holds (one per resource when every alert correlates)
	lastWrong                int     // resources whose last posted id is not the fake's lastReceiveId
	bytesPerAlert            float64 // write_bytes of the daemon per alert
	commitsPerAlert          float64 // store commits (outbox and the receiver's table together) per alert
	daemonCPU, selfCPU       float64 // µs of CPU per alert: the daemon; this driver (clients, fake, recording)
	lat                      [fedPhases]fedLat
}

// fedLat is one latency phase.
type fedLat struct {
	n, unique, dups        int     // alerts posted; distinct ids at the fake after the phase; repeats
	p50, p99, pmax         float64 // ms: the POST's round trip at the sender
	at50, at99             float64 // ms: from just before the POST to the fake's answer to the sink
	sync50, sync99, synMax float64 // ms: the fake's own round trip from the driver (what a synchronous forwarder adds per destination)
	syncFailed             int     // of those direct requests, how many got no answer (the fake down)
}

// fedPeer is the fake behind the recording sink, on a listener that can go down and
// come back on the same port.
type fedPeer struct {
	*peer
	fake  *alertatest.Server
	addr  string // host:port of the recording sink
	creds hawk.Credentials
	stop  func() // nil while down
}

// down closes the recording sink's listener and its connections: connection refused.
func (p *fedPeer) down() {
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
}

// up serves the recording sink again on its address.
func (p *fedPeer) up() error {
	if p.stop != nil {
		return nil
	}
	_, stop, err := p.s.serveOn(p.addr)
	if err != nil {
		return fmt.Errorf("bring the Alerta fake back: %w", err)
	}
	p.stop = stop
	return nil
}

// fedID is the id of alert i: unique per run (tag) and readable by seqOf.
func fedID(tag uint32, i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012d", tag, i)
}

// fedAlert is alert i, ~400 bytes as an Alerta client posts it: resource i%64, and
// per resource the sequence duplicate, correlate (another event of the correlate
// list), duplicate, correlate (another severity), …; the driver's send time in
// attributes.ts (Unix ns), which the forwarded body keeps.
func fedAlert(tag uint32, i int, now time.Time) []byte {
	k := i / fedResources // the alert's place among its resource's
	event := [2]string{"PressureHigh", "PressureLow"}[(k/2)%2]
	severity := [2]string{"major", "minor"}[(k/4)%2]
	return fmt.Appendf(nil, `{"id":%q,"resource":"pump-%02d","event":%q,"environment":"Production","severity":%q,`+
		`"correlate":["PressureHigh","PressureLow"],"service":["Water"],"value":"8.7 bar",`+
		`"text":"Discharge pressure above the 8.0 bar limit","tags":["hall3"],`+
		`"attributes":{"ts":%d},"origin":"bench/driver","timeout":86400,"createTime":%q}`,
		fedID(tag, i), i%fedResources, event, severity, now.UnixNano(), alerta.FormatTime(now))
}

// fedLast is, for each resource, the index of the last of n alerts posted to it.
func fedLast(n int) []int {
	last := make([]int, min(n, fedResources))
	for r := range last {
		last[r] = r + (n-1-r)/fedResources*fedResources
	}
	return last
}

// poster posts alerts to an Alerta API: with the API key (at the daemon) or signed
// with Hawk (at the fake, as the alerta sink does).
type poster struct {
	cl    *http.Client
	tr    *http.Transport
	url   string            // the API's base URL; alerts go to url + "/alert"
	creds *hawk.Credentials // nil: the API key
}

// newPoster returns a poster keeping up to conns connections alive.
func newPoster(base string, conns int, creds *hawk.Credentials) *poster {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	return &poster{cl: &http.Client{Transport: tr, Timeout: 10 * time.Second}, tr: tr, url: base, creds: creds}
}

func (p *poster) close() { p.tr.CloseIdleConnections() }

// post sends one alert and returns the status and an excerpt of the answer.
func (p *poster) post(ctx context.Context, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/alert", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.creds == nil {
		req.Header.Set("Authorization", "Key "+fedAPIKey)
	} else if err := signHawk(req, *p.creds, body); err != nil {
		return 0, "", err
	}
	resp, err := p.cl.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, string(b), nil
}

// signHawk sets req's Hawk Authorization header over body, as the alerta sink signs.
func signHawk(req *http.Request, c hawk.Credentials, body []byte) error {
	r, err := hawk.RequestFor(req.Method, req.URL, req.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	h, err := hawk.Header(c, r, time.Now().Unix(), hawk.Nonce())
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", h)
	return nil
}

// fails counts requests not answered 201 and keeps the first as an example.
type fails struct {
	mu    sync.Mutex
	n     int
	first string
}

func (f *fails) add(code int, answer string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n++; f.n == 1 {
		f.first = fmt.Sprintf("%d %.200s", code, answer)
		if err != nil {
			f.first = err.Error()
		}
	}
}

// paced posts n alerts made by mk, one client, alert i at start+i*interval (at once
// when behind), and returns each round trip in ms, failures included, sorted. It
// stops early at until, unless that is zero.
func (p *poster) paced(ctx context.Context, n int, interval time.Duration, until time.Time, mk func(int) []byte, f *fails) []float64 {
	rtt := make([]float64, 0, n)
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil && (until.IsZero() || time.Now().Before(until)); i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		body := mk(i)
		t := time.Now()
		code, answer, err := p.post(ctx, body)
		rtt = append(rtt, millis(time.Since(t)))
		if code != http.StatusCreated {
			f.add(code, answer, err)
		}
	}
	slices.Sort(rtt)
	return rtt
}

// fedSizes are W11's counts: the throughput burst, the alerts of one latency phase,
// and the direct requests to the slow fake (each takes fedDelay).
func (b *bench) fedSizes() (burst, phase, slow int) {
	if b.sz.burst < 20000 { // -quick
		return 1000, 400, 5
	}
	return 10000, 2000, 20
}

// fed runs W11 once: the throughput burst, then the three latency phases, each
// against a fresh daemon, all against one fake.
func (b *bench) fed(ctx context.Context) (r fedOut, err error) {
	creds := hawk.Credentials{ID: fedHawkID, Key: fedHawkKey}
	fake := alertatest.New(alertatest.Options{Prefix: "/api", AuthRequired: true, Hawk: []hawk.Credentials{creds}})
	if err := fake.Start(); err != nil {
		return r, fmt.Errorf("start the Alerta fake: %w", err)
	}
	defer fake.Close()
	// The fake validates, de-duplicates and answers every request but keeps no
	// record: the recording sink counts the deliveries (its 201s).
	fake.SetRecord(false)
	s := newSink(fake, "id", "attributes.ts", "resource")
	s.accept = http.StatusCreated
	base, stop, err := s.serve()
	if err != nil {
		return r, err
	}
	p := &fedPeer{peer: &peer{s: s, url: base + "/api"}, fake: fake, addr: strings.TrimPrefix(base, "http://"), creds: creds, stop: stop}
	defer p.down()
	if err := b.fedBurst(ctx, p, &r); err != nil {
		return r, err
	}
	for ph := range fedPhases {
		if err := b.fedLatency(ctx, p, ph, &r.lat[ph]); err != nil {
			return r, err
		}
	}
	return r, nil
}

// fedSession starts a daemon forwarding to p, waits for /health and a second of
// start-up writes, runs fn and finishes the daemon; quiet flags any warning it logs.
func (b *bench) fedSession(ctx context.Context, p *fedPeer, what string, o cfgOpts, quiet bool, fn func(*daemon)) error {
	b.log.Info(what)
	p.s.reset(0)
	p.s.pause(p.fake.Reset)
	o.alerta = p.url
	d, err := launch(b.bin, b.tmp, p.url, o)
	if err != nil {
		return err
	}
	defer b.finish(d, p.peer, what, quiet)
	if err := d.waitHealthy(ctx, 10*time.Second); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	sleepCtx(ctx, time.Second)
	fn(d)
	return ctx.Err()
}

// fedBurst runs W11's throughput: fedClients keep-alive clients post n alerts as
// fast as the receiver answers; client k posts alerts k, k+16, …, so each resource
// belongs to one client and its alerts reach the fake in the order posted.
func (b *bench) fedBurst(ctx context.Context, p *fedPeer, r *fedOut) error {
	n, _, _ := b.fedSizes()
	r.n = n
	what := fmt.Sprintf("W11 %d alerts from %d clients, alerta source → alerta sink", n, fedClients)
	return b.fedSession(ctx, p, what, cfgOpts{}, true, func(d *daemon) {
		done := p.s.reset(n)
		c0, cerr := metricOf(d.httpAddr, "edgerelay_store_commits_total")
		w0, sc := b.proc(d, "io", "write_bytes"), selfCPU()
		du, ds := cpuSplit(d.pid())
		pst := newPoster("http://"+d.httpAddr+"/alerta", fedClients, nil)
		defer pst.close()
		tag, f := rand.Uint32(), &fails{}
		var answered atomic.Int64
		lasts := make([]time.Time, fedClients)
		var wg sync.WaitGroup
		t0 := time.Now()
		for k := range fedClients {
			// Exits after its share of the n alerts, or early when ctx is done.
			wg.Go(func() {
				for i := k; i < n && ctx.Err() == nil; i += fedClients {
					code, answer, err := pst.post(ctx, fedAlert(tag, i, time.Now()))
					if code != http.StatusCreated {
						f.add(code, answer, err)
						continue
					}
					answered.Add(1)
					lasts[k] = time.Now()
				}
			})
		}
		wg.Wait()
		last := slices.MaxFunc(lasts, time.Time.Compare)
		ok := waitSink(ctx, done, 2*time.Minute)
		st := p.s.stats()
		r.answered = int(answered.Load())
		r.rate = float64(r.answered) / last.Sub(t0).Seconds()
		r.e2e = float64(st.unique) / st.last.Sub(t0).Seconds()
		if f.n > 0 {
			b.problem("%s: %d of %d POSTs were not answered 201; the first: %s", what, f.n, n, f.first)
		}
		if !ok {
			b.problem("%s: %d of %d alerts reached the fake within 2 min", what, st.unique, n)
		}
		sleepCtx(ctx, time.Second) // late commits, deletes and duplicates
		du1, ds1 := cpuSplit(d.pid())
		r.daemonCPU = (du1 + ds1 - du - ds) * 1e6 / float64(n)
		r.selfCPU = (selfCPU() - sc) * 1e6 / float64(n)
		r.bytesPerAlert = (b.proc(d, "io", "write_bytes") - w0) / float64(n)
		c1, cerr1 := metricOf(d.httpAddr, "edgerelay_store_commits_total")
		r.commitsPerAlert = (c1 - c0) / float64(n)
		if err := errors.Join(cerr, cerr1); err != nil {
			b.problem("%s: %v", what, err)
			r.commitsPerAlert = math.NaN()
		}
		st = p.s.stats()
		r.unique, r.dups, r.outOfOrder = st.unique, st.dups, st.outOfOrder
		r.alertsAtFake = len(p.fake.Alerts())
		for _, i := range fedLast(n) {
			if a, found := p.fake.Alert(fedID(tag, i)); !found || a.LastReceiveID != fedID(tag, i) {
				r.lastWrong++
			}
		}
		if r.lastWrong > 0 || r.alertsAtFake != min(n, fedResources) {
			b.problem("%s: the fake holds %d alerts (want %d, one per resource), and for %d resources the last alert posted is not its lastReceiveId",
				what, r.alertsAtFake, min(n, fedResources), r.lastWrong)
		}
	})
}

// fedLatency runs one latency phase: first the fake's own round trip from the driver
// (no daemon running), then one client posting to a fresh daemon at fedRate alerts/s.
// In the down phase the fake is down for both, and back once the last alert is
// answered; the phase ends when every alert has reached the fake.
func (b *bench) fedLatency(ctx context.Context, p *fedPeer, ph int, r *fedLat) error {
	_, n, slow := b.fedSizes()
	r.n = n
	what := fmt.Sprintf("W11 latency, fake %s, %d alerts at %d/s", fedPhaseNames[ph], n, fedRate)
	interval := time.Second / fedRate
	switch ph {
	case fedSlow, fedSlowNoHold:
		p.fake.SetDelay(fedDelay)
		defer p.fake.SetDelay(0)
	case fedDown:
		p.down()
	}
	defer func() {
		if err := p.up(); err != nil {
			b.problem("%s: %v", what, err)
		}
	}()

	// What Alerta's forwarder would add: it posts to each destination inside the
	// request, so the sender waits one of these per destination.
	direct, samples := newPoster(p.url, 1, &p.creds), 10*n/100
	if ph == fedSlow || ph == fedSlowNoHold {
		samples = slow
	}
	sf := &fails{}
	tag := rand.Uint32()
	own := direct.paced(ctx, samples, interval, time.Time{}, func(i int) []byte { return fedAlert(tag, i, time.Now()) }, sf)
	direct.close()
	r.sync50, r.sync99, r.synMax, r.syncFailed = pct(own, 0.5), pct(own, 0.99), pct(own, 1), sf.n
	if ph != fedDown && sf.n > 0 {
		b.problem("%s: %d of %d direct requests to the fake were not answered 201; the first: %s", what, sf.n, samples, sf.first)
	}

	return b.fedSession(ctx, p, what, cfgOpts{fastRetry: ph == fedDown, noHold: ph == fedSlowNoHold}, ph != fedDown, func(d *daemon) {
		pst := newPoster("http://"+d.httpAddr+"/alerta", 1, nil)
		defer pst.close()
		f, tag := &fails{}, rand.Uint32()
		// A sender that waits for each answer falls behind the rate when the
		// answers are slow: the phase stops at twice its planned length.
		done := p.s.reset(n)
		until := time.Now().Add(2*time.Duration(n)*interval + time.Second)
		rtt := pst.paced(ctx, n, interval, until, func(i int) []byte { return fedAlert(tag, i, time.Now()) }, f)
		if len(rtt) < n {
			r.n, done = len(rtt), p.s.setWant(len(rtt))
		}
		r.p50, r.p99, r.pmax = pct(rtt, 0.5), pct(rtt, 0.99), pct(rtt, 1)
		if f.n > 0 {
			b.problem("%s: %d of %d POSTs were not answered 201; the first: %s", what, f.n, n, f.first)
		}
		if ph == fedDown {
			if err := p.up(); err != nil {
				b.problem("%s: %v", what, err)
			}
		}
		ok := waitSink(ctx, done, 2*time.Minute)
		sleepCtx(ctx, 500*time.Millisecond) // late duplicates
		st := p.s.stats()
		if !ok {
			b.problem("%s: %d of %d alerts reached the fake within 2 min", what, st.unique, n)
		}
		at := col(st.lat, millis)
		slices.Sort(at)
		r.at50, r.at99 = pct(at, 0.5), pct(at, 0.99)
		r.unique, r.dups = st.unique, st.dups
	})
}

// alertaConfigYAML is W11's daemon configuration: an alerta source on the daemon's
// HTTP server taking the clients' API key, an alerta sink forwarding everything to
// the fake with Hawk. max_in_flight 64 lets phase (b) keep up: 200 alerts/s at
// 200 ms per request are 40 requests in flight, on 64 resources. With fastRetry
// (phase (c)) the retry backoff and the circuit's open time are short, so the
// drain after the fake is back starts within a second.
func alertaConfigYAML(d *daemon, o cfgOpts) string {
	extra, hold := "", ""
	if o.fastRetry {
		extra = ", retry: { initial: 100ms, max: 1s }, circuit: { open_for: 1s }"
	}
	if o.noHold {
		hold = ", deliver_window: -1s"
	}
	return fmt.Sprintf(`log: { level: warn }
store: { path: %s, commit_window: 5ms%s, unsafe_no_sync: %t }
http: { listen: %s }
broker: { enabled: "false" }
sources:
  - { name: federation, type: alerta, base_url: "http://%s/alerta", auth: { api_keys: [%q] } }
sinks:
  - { name: upstream, type: alerta, url: %q, forward: ["*"], hawk: { id: %q, key: %q }, max_in_flight: 64%s }
routes:
  - { from: [federation], to: [upstream] }
`, filepath.Join(d.dir, "queue.db"), hold, o.noSync, d.httpAddr, d.httpAddr, fedAPIKey, o.alerta, fedHawkID, fedHawkKey, extra)
}

// fedStep runs W11 as a step of a full run.
func (b *bench) fedStep(ctx context.Context, r *runOut) (err error) {
	r.fed, err = b.fed(ctx)
	return err
}

// fedLost is the alerts of every run and phase that never reached the fake.
func fedLost(rs []runOut) float64 {
	lost := 0
	for _, x := range rs {
		lost += x.fed.n - x.fed.unique
		for _, l := range x.fed.lat {
			lost += l.n - l.unique
		}
	}
	return float64(lost)
}

// fedChecks are W11's rows of the summary. The latency check is a ratio within the
// run: both phases pay the same commits, so only waiting for the slow delivery
// moves it.
func fedChecks(rs []runOut) []check {
	p99 := func(ph int) float64 { return median(col(rs, func(x runOut) float64 { return x.fed.lat[ph].p99 })) }
	slow, healthy, noHold := p99(fedSlow), p99(fedHealthy), p99(fedSlowNoHold)
	why := fmt.Sprintf("noise on shared cores and a shared disk (p99 %.2f ms with the fake 200 ms slow, %.2f ms healthy)", slow, healthy)
	if slow >= 0.9*float64(fedDelay.Milliseconds()) {
		why = fmt.Sprintf("the answer waits for the slow delivery (p99 %.2f ms against %.2f ms healthy): while its sink is healthy the store holds an event back up to `store.deliver_window` (500 ms) so that a delivered event is never written (`pipeline` `DeferUntil`), and the receiver answers only once the event is settled; with `store.deliver_window: -1s` (b′) the p99 is %.2f ms", slow, healthy, noHold)
	}
	return []check{
		{"W11 Alerta federation: alerts lost (all runs and phases)", "0", fedLost(rs), 0, true, "%.0f", "a daemon fault: see Daemon problems"},
		{"W11 Alerta sender's POST p99, fake 200 ms per request ÷ fake healthy", "≤ 2× (the sender does not wait for forwarding)", slow / healthy, 2, true, "%.2f×", why},
	}
}

// reportW11 is W11's section.
func reportW11(rs []runOut) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	n, phase := 0, 0
	if len(rs) > 0 {
		n, phase = rs[0].fed.n, rs[0].fed.lat[0].n
	}
	p("\n## W11: Alerta federation, alerta source → store → alerta sink\n\n")
	p("Clients in the driver post alerts (~400 bytes, `Authorization: Key`, 64 resources so that de-duplication and correlation happen, every id unique) to the daemon's `alerta` source; its `alerta` sink forwards each, signed with Hawk, to the Alerta API fake (`adapters/alerta/alertatest`, `AuthRequired`, in the driver process; it validates, de-duplicates and answers but keeps no record) behind the driver's recording layer, which counts each id the fake answers 201. `store.commit_window: 5ms`; every workload starts a fresh daemon:\n\n```yaml\n%s```\n",
		strings.NewReplacer(fedAPIKey, "<the clients' API key>", fedHawkKey, "<the Hawk key>").Replace(
			alertaConfigYAML(&daemon{dir: "<tmp>/run-*", httpAddr: "127.0.0.1:<port>"}, cfgOpts{alerta: "http://127.0.0.1:<fake>/api"})))
	p("\n### Throughput\n\n%d keep-alive clients post %d alerts as fast as the receiver answers (client k posts alerts k, k+%d, …, so each resource belongs to one client and its order is checked at the fake). Answered: 201s per second, from the first POST to the last answer. End to end: from the first POST to the last new id at the fake. Lost: ids never answered 201 by the fake; the fake's book must hold one alert per resource with the last id posted as its `lastReceiveId`. Commits: `edgerelay_store_commits_total` per alert (the outbox and the receiver's table share the group commits; each answer waits for one). Bytes: `write_bytes` of the daemon per alert (the outbox and the receiver's persisted table of alerts; the journal excluded). CPU per alert: the daemon's user+system, and the driver's (clients, fake and recording).\n\n", fedClients, n, fedClients)
	p("| run | answered 201/s | end to end alerts/s | at the fake / posted | duplicates | out of order | alerts at the fake / last id wrong | commits per alert | bytes written per alert | daemon CPU µs per alert | driver CPU µs per alert |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, x := range rs {
		f := x.fed
		p("| %d | %.0f | %.0f | %d / %d | %d | %d | %d / %d | %.3f | %.0f | %.0f | %.0f |\n", i+1, f.rate, f.e2e, f.unique, f.n, f.dups, f.outOfOrder, f.alertsAtFake, f.lastWrong, f.commitsPerAlert, f.bytesPerAlert, f.daemonCPU, f.selfCPU)
	}
	if len(rs) > 1 {
		med := func(g func(fedOut) float64) float64 {
			return median(col(rs, func(x runOut) float64 { return g(x.fed) }))
		}
		p("| median | %.0f | %.0f | | | | | %.3f | %.0f | %.0f | %.0f |\n", med(func(f fedOut) float64 { return f.rate }), med(func(f fedOut) float64 { return f.e2e }), med(func(f fedOut) float64 { return f.commitsPerAlert }),
			med(func(f fedOut) float64 { return f.bytesPerAlert }), med(func(f fedOut) float64 { return f.daemonCPU }), med(func(f fedOut) float64 { return f.selfCPU }))
	}
	p("\n### Added latency the sender sees\n\nOne client posts %d alerts at %d alerts/s; the round trip of each POST (answered once the alert's event is settled, stored or delivered, and the receiver's table is flushed), with the fake (a) healthy, (b) answering each request %s late (`SetDelay`), (b′) the same with the store's deliver window off (`store.deliver_window: -1s`: an event is committed within the 5 ms commit window even while its sink is healthy, instead of being held up to 500 ms in the hope that it is delivered and never written), (c) down (its listener closed: connection refused) while the alerts are posted and back after the last answer. A sender that waits for each answer falls behind the rate when answers are slow, so a phase stops at twice its planned length (hence fewer alerts posted in (b)). \"At the fake\": from just before the POST to the request's arrival at the fake (the sink forwards at once in every phase; in (c) after the fake is back). \"A synchronous forwarder would add\": Alerta's forwarder posts to each destination inside the client's request, so its sender waits one round trip to the destination per destination; measured here as the driver's own Hawk-signed POSTs straight to the fake in the same state, at the same rate, with no daemon running (in (c) the time to connection refused, after which Alerta's forwarder has dropped the alert).\n\n", phase, fedRate, fedDelay)
	p("| run | fake | sender POST p50 / p99 / max ms | at the fake p50 / p99 ms | a synchronous forwarder would add p50 / p99 / max ms | at the fake / posted | duplicates |\n|---|---|---|---|---|---|---|\n")
	for i, x := range rs {
		for ph, l := range x.fed.lat {
			own := fmt.Sprintf("%.2f / %.2f / %.2f", l.sync50, l.sync99, l.synMax)
			if l.syncFailed > 0 {
				own += fmt.Sprintf(" (%d refused)", l.syncFailed)
			}
			p("| %d | %s | %.2f / %.2f / %.2f | %.1f / %.1f | %s | %d / %d | %d |\n", i+1, fedPhaseNames[ph], l.p50, l.p99, l.pmax, l.at50, l.at99, own, l.unique, l.n, l.dups)
		}
	}
	return w.String()
}

// onlyFed runs W11 runs times and prints its summary rows and section (-w11).
func (b *bench) onlyFed(ctx context.Context, runs int) error {
	var rs []runOut
	for i := range runs {
		b.log.Info("W11 run", "n", i+1, "of", runs)
		f, err := b.fed(ctx)
		if err != nil {
			return fmt.Errorf("W11 run %d: %w", i+1, err)
		}
		rs = append(rs, runOut{fed: f})
	}
	cs := fedChecks(rs)
	if math.IsNaN(cs[1].value) {
		return errors.New("W11: no latency measured")
	}
	fmt.Print("| workload | target | measured | met? |\n|---|---|---|---|\n")
	for _, c := range cs {
		fmt.Print(c.row())
	}
	fmt.Print(reportW11(rs))
	if len(b.problems) > 0 {
		fmt.Println("\nDaemon problems:")
		for _, pr := range b.problems {
			fmt.Println("- " + pr)
		}
	}
	return nil
}
