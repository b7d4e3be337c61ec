package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgerelay/edgerelay/adapters"
)

// BenchmarkSinkSend measures the sink's throughput against an in-process kfake
// broker: senders concurrent Sends (each returns once the broker acknowledged its
// record), as the daemon drives the sink with max_in_flight. "stored" keeps every
// record in kfake's log; "blackhole" acknowledges without storing, so that the
// figure is closer to the sink's own cost. Allocations include kfake's, which runs
// in the same process.
//
//	go test -run '^$' -bench BenchmarkSinkSend -benchtime 20000x ./adapters/kafka/
func BenchmarkSinkSend(b *testing.B) {
	payload := []byte(`{"id":999,"eventType":"alert-created","alert":{"id":999,"summary":"Pressure high on line 1",` +
		`"severity":"HIGH","status":"PENDING","alertSource":{"id":42,"name":"plant"},"createdAt":"2026-12-02T10:11:12Z"}}`)
	for _, store := range []string{"stored", "blackhole"} {
		for _, cfg := range []struct {
			senders int
			codec   string
		}{{1, CompressionNone}, {64, CompressionNone}, {64, CompressionZstd}} {
			b.Run(fmt.Sprintf("%s/in_flight=%d/%s", store, cfg.senders, cfg.codec), func(b *testing.B) {
				opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(8, "bench")}
				if store == "blackhole" {
					opts = append(opts, kfake.BlackholeProduce())
				}
				c, err := kfake.NewCluster(opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				sc := DefaultSinkConfig()
				sc.Brokers, sc.Topic, sc.Compression, sc.MaxInFlight = c.ListenAddrs(), "bench", cfg.codec, cfg.senders
				s, err := NewSink(sc, adapters.Deps{})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Connect(context.Background()); err != nil {
					b.Fatal(err)
				}
				defer s.Close(context.Background())
				events := make([][]*adapters.Event, cfg.senders)
				for i := range b.N {
					w := i % cfg.senders
					events[w] = append(events[w], &adapters.Event{
						ID: fmt.Sprintf("edge-%d", i), Kind: adapters.KindAlert, Key: fmt.Sprintf("%d", i%1000),
						Source: "edge", Topic: "alert-created", Payload: payload, Received: time.Now(),
						Attrs: map[string]string{"header.X-ilert-Alert-Id": "999", "header.X-ilert-Edge-Item-Id": fmt.Sprint(i)},
					})
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(payload)))
				b.ResetTimer()
				var wg sync.WaitGroup
				for w := range cfg.senders {
					wg.Add(1)
					go func() { // exits after its share of the events
						defer wg.Done()
						for _, e := range events[w] {
							if err := s.Send(context.Background(), e); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
