package mqtt

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
)

// BenchmarkSink measures the sink's throughput against an in-process Mochi broker
// over loopback TCP: each Send publishes a 200-byte JSON payload and, with QoS 1
// and 2, waits for that publish's acknowledgement. inflight is the number of
// concurrent Sends (the daemon's max_in_flight; 8 by default), each on its own key.
// A QoS 1 subscriber receives every message, as a site consumer would.
//
//	go test -run '^$' -bench BenchmarkSink -benchtime 20000x ./adapters/mqtt/
func BenchmarkSink(b *testing.B) {
	for _, qos := range []byte{0, 1, 2} {
		for _, inflight := range []int{1, 8} {
			if qos != 1 && inflight == 1 {
				continue
			}
			b.Run(fmt.Sprintf("qos%d/inflight%d", qos, inflight), func(b *testing.B) { benchSink(b, qos, inflight) })
		}
	}
}

func benchSink(b *testing.B, qos byte, inflight int) {
	br := startMochiWith(b).url
	cfg := DefaultSinkConfig()
	cfg.URL = br
	cfg.ClientID = "edgerelay-bench-" + randHex(6)
	cfg.Topic = "bench/{key}"
	cfg.QoS = qos
	s, err := NewSink(cfg, adapters.Deps{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	sub := subscribe(b, br, "bench/#", 1)
	if err := s.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	payload := []byte(`{"id":"edge-000000001","eventType":"alert-created","alert":{"id":4711,"summary":"Pressure high on line 1","status":"PENDING","priority":"HIGH"},"padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, inflight)
	for w := range inflight {
		n := b.N / inflight
		if w < b.N%inflight {
			n++
		}
		wg.Add(1)
		go func() { // exits after its share of the sends or at its first error
			defer wg.Done()
			e := &adapters.Event{Key: fmt.Sprint("k", w), Kind: "alert", Payload: payload}
			for range n {
				if err := s.Send(context.Background(), e); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	// Every message reached the subscriber (QoS 0 may in principle drop; loopback does not).
	deadline := time.Now().Add(30 * time.Second)
	for len(sub.all()) < b.N && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := len(sub.all()); got < b.N && qos > 0 {
		b.Fatalf("the subscriber got %d of %d messages", got, b.N)
	}
}
