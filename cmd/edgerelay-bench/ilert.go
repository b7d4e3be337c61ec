//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
	"github.com/edgerelay/edgerelay/adapters/ilert/mapping"
)

// defaultOutage is W3's outage: the performance guide's 60 s.
const defaultOutage = 60 * time.Second

// The ilert workloads publish ilertPayload messages on bench/alerts; the daemon's
// route maps them with the ilert transform (event_topic bench/alerts, consumer mqtt,
// as `edgerelay daemon -m … -e bench/alerts` does) and its ilert sink POSTs each
// event to /api/v1/events/mqtt/il1api-bench at the fake.
const ilertEventsPath = "/api/v1/events/mqtt/il1api-bench"

// ilertRun is one run's figures through the ilert sink.
type ilertRun struct {
	w1             []pair
	p50, p99, pmax float64 // W2, ms
	w3             drainOut
	ceil           ceiling
}

// drainOut is one W3 run: 100k events queued during an outage, then drained.
type drainOut struct {
	storeRate              float64 // events/s published into the outage (each PUBACK: stored)
	outage                 float64 // s, first publish to recovery
	outageReqs             int     // requests the fake answered 503
	firstAfter             float64 // ms, recovery to the first delivery (the retry backoff)
	rate, pure             float64 // events/s: recovery → last delivery; first → last delivery
	unique, dups, disorder int
	rss10, rss100, rssEnd  float64 // MiB VmRSS with 10% and all events queued, at the end of the outage
	anon10, anon100        float64 // MiB RssAnon at the same moments
	anonEnd, rssMax, hwm   float64 // MiB: RssAnon at the end of the outage; max VmRSS sampled while backlogged; VmHWM after the drain
	anonMax, fileMB        float64 // MiB: max RssAnon sampled while backlogged; the store file at the end of the outage
	bytesPerEvent          float64 // written by the daemon, outage and drain
	daemonCPU, selfCPU     float64 // µs of CPU per event during the drain
	fakeReqs               int     // requests the fake recorded during the drain
	fakeBytes              float64 // heap its recording held after the drain, per recorded request
}

// ceiling is how fast the driver's own clients get requests through the plain sink
// and through the fake, with no daemon running: the cost of the peer itself.
type ceiling struct {
	hook, fake       float64 // requests/s
	hookCPU, fakeCPU float64 // driver CPU µs per request (clients and server)
}

// driverTB is the testing.TB that ilerttest.NewServer asks for, outside a test: it
// keeps the cleanups for the driver to run. Only Cleanup and Helper are implemented;
// any other method would panic on the nil embedded interface.
type driverTB struct {
	testing.TB
	cleanups []func()
}

func (t *driverTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *driverTB) Helper()          {}

func (t *driverTB) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// ilertPeer starts the ilert API fake and serves its handler, unchanged, behind a
// recording sink on its own 127.0.0.1 listener: the sink timestamps each 202 (the
// fake records no times) and counts ids, duplicates and per-key order. The fake's
// own listener stays idle.
//
// With minimal (-w1 -minimal-ilert), the recording sink answers every request 202 by
// itself: no validation and no record by the fake, to show how much of the daemon's
// CPU per event is the heavier peer's on the same two cores.
func ilertPeer(minimal bool) (*peer, func(), error) {
	tb := &driverTB{}
	fake := ilerttest.NewServer(tb)
	var inner http.Handler = fake
	if minimal {
		inner = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	}
	p := &peer{s: newSink(inner, "customDetails.id", "customDetails.ts", "alertKey"), mk: ilertPayload, fake: fake, ilert: true}
	url, stop, err := p.s.serve()
	if err != nil {
		tb.close()
		return nil, nil, err
	}
	p.url = url
	return p, func() { stop(); tb.close() }, nil
}

// ilertRun runs the peer ceilings, then W1, W2 and W3 through the ilert sink; i is
// the run.
func (b *bench) ilertRun(ctx context.Context, i int, r *ilertRun) (err error) {
	r.ceil.hook, r.ceil.hookCPU = b.ceilingOf(ctx, b.hook, b.sz.burst)
	r.ceil.fake, r.ceil.fakeCPU = b.ceilingOf(ctx, b.il, b.sz.burst)
	if r.w1, err = b.pairs(ctx, b.il, i, "ilert W1"); err != nil {
		return err
	}
	if r.p50, r.p99, r.pmax, err = b.latencyAt(ctx, b.il, "ilert W2"); err != nil {
		return err
	}
	r.w3, err = b.drain(ctx)
	return err
}

// drain runs W3: the fake answers 503 to everything while sz.backlog events are
// published (each PUBACK means the event is in the outbox) and for at least
// b.outage from the first publish; then the fake is reset to health and the backlog
// drains.
func (b *bench) drain(ctx context.Context) (r drainOut, err error) {
	p, n := b.il, b.sz.backlog
	what := fmt.Sprintf("ilert W3 %d events queued during an outage, then drained", n)
	err = b.session(ctx, p, cfgOpts{fastRetry: true}, what, 4, func(d *daemon, cs []mqtt.Client) {
		pid := d.pid()
		mib := func(name string) float64 { return b.proc(d, "status", name) / 1024 }
		w0 := b.proc(d, "io", "write_bytes")
		p.s.pause(func() { p.fake.FailNext("*", math.MaxInt32, http.StatusServiceUnavailable) })
		done := p.s.reset(n)

		var maxRSS, maxAnon float64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		// Samples VmRSS and RssAnon every 250 ms while backlogged; exits when stop is closed.
		wg.Go(func() {
			tk := time.NewTicker(250 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					if v, err := procField(pid, "status", "VmRSS"); err == nil {
						maxRSS = max(maxRSS, v/1024)
					}
					if v, err := procField(pid, "status", "RssAnon"); err == nil {
						maxAnon = max(maxAnon, v/1024)
					}
				}
			}
		})
		tag, tenth, t0 := rand.Uint32(), n/10, time.Now()
		failed := publish(ctx, cs, p.mk, tag, 0, tenth, 1000, 0)
		r.rss10, r.anon10 = mib("VmRSS"), mib("RssAnon")
		failed += publish(ctx, cs, p.mk, tag, tenth, n-tenth, 1000, 0)
		r.storeRate = float64(n) / time.Since(t0).Seconds()
		r.rss100, r.anon100 = mib("VmRSS"), mib("RssAnon")
		sleepCtx(ctx, time.Until(t0.Add(b.outage)))
		r.rssEnd, r.anonEnd = mib("VmRSS"), mib("RssAnon")
		close(stop)
		wg.Wait()
		r.rssMax, r.anonMax = max(maxRSS, r.rssEnd), max(maxAnon, r.anonEnd)
		if fi, err := os.Stat(filepath.Join(d.dir, "queue.db")); err == nil {
			r.fileMB = float64(fi.Size()) / (1 << 20)
		}
		if st := p.s.stats(); st.unique > 0 {
			b.problem("%s: %d events were accepted while the fake answered 503", what, st.unique)
		}
		for _, q := range p.fake.Requests() {
			if q.Status == http.StatusServiceUnavailable {
				r.outageReqs++
			}
		}

		dc, sc := cpuSeconds(pid), selfCPU()
		var t1 time.Time
		p.s.pause(func() { p.fake.Reset(); t1 = time.Now() })
		r.outage = t1.Sub(t0).Seconds()
		ok := waitSink(ctx, done, 5*time.Minute)
		st := p.s.stats()
		if !ok || failed > 0 {
			b.problem("%s: %d of %d events reached the fake within 5 min of recovery; %d publishes failed", what, st.unique, n, failed)
		}
		per := float64(max(st.unique, 1)) / 1e6
		r.daemonCPU, r.selfCPU = (cpuSeconds(pid)-dc)/per, (selfCPU()-sc)/per
		r.rate = float64(st.unique) / st.last.Sub(t1).Seconds()
		r.pure = float64(st.unique-1) / st.last.Sub(st.first).Seconds()
		r.firstAfter = millis(st.first.Sub(t1))
		sleepCtx(ctx, time.Second) // late deletes and duplicates
		r.hwm = mib("VmHWM")
		r.bytesPerEvent = (b.proc(d, "io", "write_bytes") - w0) / float64(n)
		st = p.s.stats()
		r.unique, r.dups, r.disorder = st.unique, st.dups, st.outOfOrder

		// What the fake's recording holds: the heap freed by its Reset.
		r.fakeReqs = len(p.fake.Requests())
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		p.s.pause(p.fake.Reset)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		r.fakeBytes = (float64(m0.HeapAlloc) - float64(m1.HeapAlloc)) / float64(max(r.fakeReqs, 1))
	})
	return r, err
}

// ceilingOf measures how fast 8 keep-alive clients in the driver get n requests
// through p's endpoint, bodies made in advance (for the fake, the ilert event body
// the daemon would send, through the same mapping). It returns requests/s and the
// driver's CPU µs per request, clients and server together (NaN, and a problem,
// when a request fails).
func (b *bench) ceilingOf(ctx context.Context, p *peer, n int) (rate, cpu float64) {
	url, bodies, tag := p.url, make([][]byte, n), rand.Uint32()
	if p.ilert {
		url += ilertEventsPath
	}
	for i := range bodies {
		bodies[i] = p.mk(tag, i)
		if p.ilert {
			res, err := mapping.Map(mapping.Config{}, "bench/alerts", bodies[i])
			if err != nil || res.Skip {
				b.problem("ceiling: the ilert mapping refused the bench payload: %v %s", err, res.Reason)
				return math.NaN(), math.NaN()
			}
			bodies[i] = res.Body
		}
	}
	if p.fake != nil {
		p.s.pause(p.fake.Reset)
		defer p.s.pause(p.fake.Reset)
	}
	done := p.s.reset(n)
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next, bad atomic.Int64
	var wg sync.WaitGroup
	runtime.GC()
	sc, t0 := selfCPU(), time.Now()
	for range 8 {
		// Exits after the last request, or early when ctx is done.
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				resp, err := cl.Post(url, "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					bad.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	took, used := time.Since(t0), selfCPU()-sc
	if !waitSink(ctx, done, 5*time.Second) || bad.Load() > 0 {
		b.problem("ceiling: %d of %d requests to %s failed", bad.Load(), n, url)
		return math.NaN(), math.NaN()
	}
	return float64(n) / took.Seconds(), used / float64(n) * 1e6
}
