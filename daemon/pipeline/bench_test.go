package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/ilert/mapping"
	"github.com/edgerelay/edgerelay/adapters/webhook"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/store"
	"github.com/edgerelay/edgerelay/store/storetest"
)

// The benchmarks below are the daemon's per-event hot path as in `make bench` W1 (one
// route, one sink, 64 keys, a healthy sink, so nothing is written to the store),
// without the MQTT broker: Publish → router → lane → Send → the done callback. Each
// iteration publishes one new event, as a source does (the event and its key are two
// of the allocations); allocations per op are allocations per event. Targets
// (allocs/op; go test -run X -bench Publish -benchmem ./daemon/pipeline), set with
// go1.26 on a loaded 2-core machine, where runs spread by about ±30% because
// scheduling decides how many publishes overtake their deliveries and how much the
// HTTP client and server (both in this process) work per request:
//
//	BenchmarkPublishDeliver  ≤ 8   the pipeline alone, in-process peer (4–7 measured; 8–10 before)
//	BenchmarkPublishWebhook  ≤ 60  + the webhook sink's HTTP request (36–51; 41–62 before; net/http is most of it)
//	BenchmarkPublishIlert    ≤ 65  + the ilert route transform and the ilert sink (43–54; 134–154 before)

// benchPublish publishes b.N events with payload through a pipeline whose only sink
// is sink, routed by route (its To is set here), and waits for every done callback.
func benchPublish(b *testing.B, sink adapters.Sink, route pipeline.Route, payload func(i int) []byte) {
	pipeline.WithoutInvariantChecks(b)
	db := storetest.MustOpen(b)
	w := db.NewWriter(store.WriterOptions{Window: 5 * time.Millisecond})
	route.Name, route.To = "bench", []string{"s"}
	p, err := pipeline.New(pipeline.Options{
		DB: db, Writer: w, Router: pipeline.NewRouter([]pipeline.Route{route}),
		Sinks:         []pipeline.Sink{{Name: "s", Sink: sink, MaxInFlight: 8}},
		DeliverWindow: 500 * time.Millisecond, // the daemon's default
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wctx, wcancel := context.WithCancel(context.Background())
	var run sync.WaitGroup
	run.Go(func() { _ = w.Run(wctx) })           // exits when wctx ends
	run.Go(func() { _ = p.Run(ctx); wcancel() }) // exits when ctx ends, then stops the writer
	defer func() { p.StopIntake(); cancel(); run.Wait() }()

	pub := p.Publisher("bench")
	var pending sync.WaitGroup
	var failed error
	var mu sync.Mutex
	done := func(s adapters.Settlement) {
		// Stored is fine too: in a burst a publish may be settled by its commit first.
		if s.Outcome != adapters.Delivered && s.Outcome != adapters.Stored {
			mu.Lock()
			failed = fmt.Errorf("settled %v: %v %s", s.Outcome, s.Err, s.Reason)
			mu.Unlock()
		}
		pending.Done()
	}
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = payload(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		pending.Add(1)
		e := &adapters.Event{Kind: adapters.KindAlert, Key: fmt.Sprintf("k%d", i%64), Topic: "bench/alerts", Payload: bodies[i%len(bodies)]}
		if err := pub.Publish(ctx, e, done); err != nil {
			b.Fatal(err)
		}
		i++
	}
	pending.Wait()
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
}

func webhookPayload(i int) []byte {
	return fmt.Appendf(nil, `{"id":"00000000-0000-4000-8000-%012d","key":"k%d","ts":1795322390164647654,"summary":"Pressure high on pump 3","details":"Discharge pressure 8.7 bar above the 8.0 bar limit for 30 s","priority":"HIGH"}`, i, i%64)
}

// BenchmarkPublishDeliver is the pipeline's own cost per event.
func BenchmarkPublishDeliver(b *testing.B) {
	benchPublish(b, nopSink{}, pipeline.Route{}, webhookPayload)
}

// BenchmarkPublishWebhook adds the webhook sink and its HTTP request.
func BenchmarkPublishWebhook(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	s, err := webhook.New(webhook.Config{URL: srv.URL + "/ingest", MaxInFlight: 8}, adapters.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	benchPublish(b, s, pipeline.Route{}, webhookPayload)
}

// BenchmarkPublishIlert adds the ilert route transform and the ilert sink; the peer
// answers 202 as ilert does.
func BenchmarkPublishIlert(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer srv.Close()
	s, err := ilert.New(ilert.Config{APIHost: srv.URL, HeartbeatHost: srv.URL, EventsPath: ilert.PathMQTT, MaxInFlight: 8}, adapters.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	tc := mapping.DefaultTransformConfig()
	tc.Topics = mapping.Topics{Event: "bench/alerts"}
	tr, err := mapping.NewTransform(tc, adapters.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	benchPublish(b, s, pipeline.Route{Transform: tr}, func(i int) []byte {
		return fmt.Appendf(nil, `{"apiKey":"il1api-bench","eventType":"ALERT","summary":"Pressure high on pump 3","details":"Discharge pressure 8.7 bar above the 8.0 bar limit for 30 s","alertKey":"k%d","priority":"HIGH","customDetails":{"id":"00000000-0000-4000-8000-%012d","ts":1795322390164647654}}`, i%64, i)
	})
}

// nopSink delivers everything at once.
type nopSink struct{}

func (nopSink) Connect(context.Context) error               { return nil }
func (nopSink) Close(context.Context) error                 { return nil }
func (nopSink) Send(context.Context, *adapters.Event) error { return nil }
