package lifecycle_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
	contract "github.com/edgerelay/edgerelay/adapters/lifecycle"
	_ "github.com/edgerelay/edgerelay/adapters/lifecycle/nats"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/lifecycle"
)

// BenchmarkRelayedToNATS: the whole cost of edge.alert.relayed per delivered event,
// from the bus to the machine's NATS (core): translate, batch, publish, flush.
func BenchmarkRelayedToNATS(b *testing.B) {
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second); err != nil {
		b.Skipf("SKIP: needs the machine's NATS on 127.0.0.1:4222: %v", err)
	} else {
		c.Close()
	}
	spec, _ := contract.Lookup("nats")
	cfg := spec.NewConfig()
	if err := cfg.ApplyEnv(contract.MapEnv(map[string]string{"EVENT_BROKER_NATS_URLS": "nats://127.0.0.1:4222"})); err != nil {
		b.Fatal(err)
	}
	pub, err := cfg.Build(contract.Deps{Log: slog.New(slog.DiscardHandler), Clock: clock.Real, Env: contract.MapEnv(nil)})
	if err != nil {
		b.Fatal(err)
	}
	bus := events.New(time.Now)
	p := lifecycle.New(lifecycle.Options{Config: lifecycle.Config{Adapter: "nats", CoreName: "bench", Buffer: 4096,
		StopFlush: time.Second, AlertRelayed: true}, Publisher: pub, Bus: bus})
	p.SetNode(lifecycle.Node{ID: "N"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	e := events.Event{Kind: events.Delivered, Source: "plc-alarms", Sink: "ilert-main", EventID: "01JE5Q3A0B1C2D3E4F5G6H7J8K", Key: "k"}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		bus.Publish(e)
		n++
		if n%1024 == 0 { // keep within the buffer
			for p.Stats().Published[lifecycle.TypeAlertRelayed] < uint64(n-512) {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	for p.Stats().Published[lifecycle.TypeAlertRelayed]+p.Stats().Dropped < uint64(n) {
		time.Sleep(100 * time.Microsecond)
	}
	b.ReportMetric(float64(p.Stats().Dropped), "dropped")
}
