//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// W10: the ilert_edge source polls the ilert API fake (in this process) and the
// webhook sink delivers every item to the recording sink.

// edgeBenchKey is the edge connector key of W10.
const edgeBenchKey = "iec1:bench-edge-key"

// edgeRound is the items of one W10 round: ten full batches, the most the re-poll
// rule polls without a poll_interval between them.
const edgeRound = 1000

// edgeOut is one W10 run.
type edgeOut struct {
	rates           []float64 // items/s per round: the round's first poll to its last new item at the sink
	items           int
	unique, dups    int
	outOfOrder      int
	batches         int     // full polls answered with items
	commitsPerBatch float64 // store commits per polled batch: the items' puts and deletes and the cursor together
	bytesPerItem    float64 // write_bytes per item
	daemonCPU       float64 // µs per item
}

// edgePayload is the payload of item seq: ~230 bytes, 64 alert ids, the driver's
// item tag and sequence in "item" (the sink counts by it), ordering key "id".
func edgePayload(tag uint32, seq int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":"alert-%02d","item":"%08x-%012d","eventType":"alert-created","status":"PENDING","summary":"bench edge item on line %d","timestamp":"2026-05-04T10:00:00.000Z","ts":%d}`,
		seq%64, tag, seq, seq%7, time.Now().UnixNano()))
}

// edge runs W10 once: rounds rounds of edgeRound items against one fresh daemon.
func (b *bench) edge(ctx context.Context, rounds int) (r edgeOut, err error) {
	tb := &driverTB{}
	defer tb.close()
	fake := ilerttest.NewServer(tb)
	fake.AddEdgeKey(edgeBenchKey)
	s := newSink(nil, "item", "ts", "id")
	url, stop, err := s.serve()
	if err != nil {
		return r, err
	}
	defer stop()
	peerW10 := &peer{s: s, url: url + "/edge"}
	what := "W10 edge poll → webhook"
	b.log.Info(what, "rounds", rounds)
	d, err := launch(b.bin, b.tmp, peerW10.url, cfgOpts{edge: fake.URL()})
	if err != nil {
		return r, err
	}
	defer b.finish(d, peerW10, what, true)
	if err := d.waitHealthy(ctx, 10*time.Second); err != nil {
		return r, fmt.Errorf("%s: %w", what, err)
	}
	sleepCtx(ctx, time.Second) // the first (empty) poll and start-up writes
	r.items = rounds * edgeRound
	s.reset(r.items)
	c0, err := metricOf(d.httpAddr, "edgerelay_store_commits_total")
	if err != nil {
		return r, err
	}
	w0 := b.proc(d, "io", "write_bytes")
	du, ds := cpuSplit(d.pid())
	tag := rand.Uint32()
	seq := 0
	for round := range rounds {
		first, _ := fake.AddEdgeItems(edgeBenchKey, edgeRound, func(int64) json.RawMessage { seq++; return edgePayload(tag, seq) })
		want := (round + 1) * edgeRound
		for end := time.Now().Add(30 * time.Second); s.stats().unique < want; time.Sleep(time.Millisecond) {
			if time.Now().After(end) || ctx.Err() != nil {
				b.problem("%s: round %d: %d of %d items at the sink within 30 s", what, round+1, s.stats().unique, want)
				return r, ctx.Err()
			}
		}
		var t0 time.Time
		for _, p := range fake.EdgePolls() {
			if len(p.IDs) > 0 && p.IDs[0] == first {
				t0 = p.At
			}
		}
		r.rates = append(r.rates, float64(edgeRound)/s.stats().last.Sub(t0).Seconds())
	}
	sleepCtx(ctx, time.Second) // late commits, deletes and duplicates
	du1, ds1 := cpuSplit(d.pid())
	c1, err := metricOf(d.httpAddr, "edgerelay_store_commits_total")
	if err != nil {
		return r, err
	}
	for _, p := range fake.EdgePolls() {
		if len(p.IDs) > 0 {
			r.batches++
		}
	}
	r.commitsPerBatch = (c1 - c0) / float64(r.batches)
	r.bytesPerItem = (b.proc(d, "io", "write_bytes") - w0) / float64(r.items)
	r.daemonCPU = (du1 + ds1 - du - ds) * 1e6 / float64(r.items)
	st := s.stats()
	r.unique, r.dups, r.outOfOrder = st.unique, st.dups, st.outOfOrder
	if r.unique != r.items {
		b.problem("%s: %d of %d items reached the sink", what, r.unique, r.items)
	}
	return r, nil
}

// metricOf scrapes one unlabelled metric from the daemon's /metrics.
func metricOf(httpAddr, name string) (float64, error) {
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("scrape the daemon's metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("scrape the daemon's metrics: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if n, v, ok := strings.Cut(line, " "); ok && n == name {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("the daemon's /metrics has no %s", name)
}

// edgeRounds is the W10 rounds per run.
func (b *bench) edgeRounds() int {
	if b.sz.burst < 20000 { // -quick
		return 2
	}
	return 5
}

// edgeStep runs W10 as a step of a full run.
func (b *bench) edgeStep(ctx context.Context, r *runOut) (err error) {
	r.edge, err = b.edge(ctx, b.edgeRounds())
	return err
}

// edgeRate is the median of a run's round rates.
func (e edgeOut) rate() float64 { return median(e.rates) }

// edgeCheck is W10's row of the summary.
func edgeCheck(rs []runOut) check {
	rate := median(col(rs, func(x runOut) float64 { return x.edge.rate() }))
	return check{"W10 edge poll → local HTTP target, persisted cursor", "≥ 5,000 items/s", rate, 5000, false, "%.0f items/s",
		"the round trips of the ten polls of a round and the delivery behind them on shared cores"}
}

// reportW10 is W10's section.
func reportW10(rs []runOut) string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	rounds := 0
	if len(rs) > 0 {
		rounds = len(rs[0].edge.rates)
	}
	p("\n## W10: edge connector, poll → local HTTP target\n\n")
	p("The `ilert_edge` source polls the ilert API fake (`adapters/ilert/ilerttest`, in the driver process) and the webhook sink (`max_in_flight: 8`) posts every item to the recording sink; `store.commit_window: 5ms`, `poll_interval: 5s`. ")
	p("Each run is one fresh daemon and %d rounds of %d items (~230 bytes, 64 alert ids), the most ilagent's re-poll rule takes without waiting a poll interval (ten full batches of 100). ", rounds, edgeRound)
	p("Rate: from the fake's answer to the round's first poll to the round's last new item at the sink, median of the rounds. ")
	p("Commits per batch: `edgerelay_store_commits_total` over the polled batches (the items' puts and deletes and the cursor write share the group commits; the cursor itself is written once per batch, `TestScenario99Repoll`). Bytes: `write_bytes` of the daemon per item. CPU: the daemon's user+system per item, waits included.\n\n")
	p("| run | items/s (rounds) | items | duplicates | out of order | batches | commits per batch | bytes written per item | daemon CPU µs per item |\n|---|---|---|---|---|---|---|---|---|\n")
	for i, x := range rs {
		e := x.edge
		rates := make([]string, len(e.rates))
		for j, v := range e.rates {
			rates[j] = fmt.Sprintf("%.0f", v)
		}
		p("| %d | %.0f (%s) | %d | %d | %d | %d | %.2f | %.0f | %.0f |\n", i+1, e.rate(), strings.Join(rates, ", "),
			e.unique, e.dups, e.outOfOrder, e.batches, e.commitsPerBatch, e.bytesPerItem, e.daemonCPU)
	}
	return w.String()
}

// onlyEdge runs W10 runs times and prints its summary row and section (-w10).
func (b *bench) onlyEdge(ctx context.Context, runs int) error {
	var rs []runOut
	for i := range runs {
		b.log.Info("W10 run", "n", i+1, "of", runs)
		e, err := b.edge(ctx, b.edgeRounds())
		if err != nil {
			return fmt.Errorf("W10 run %d: %w", i+1, err)
		}
		rs = append(rs, runOut{edge: e})
	}
	c := edgeCheck(rs)
	if math.IsNaN(c.value) {
		return fmt.Errorf("W10: no rate measured")
	}
	fmt.Print("| workload | target | measured | met? |\n|---|---|---|---|\n" + c.row() + reportW10(rs))
	if len(b.problems) > 0 {
		fmt.Println("\nDaemon problems:")
		for _, pr := range b.problems {
			fmt.Println("- " + pr)
		}
	}
	return nil
}
