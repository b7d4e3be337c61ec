package lifecycle

import (
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/daemon/events"
)

// BenchmarkTranslateRelayed: the publisher's cost per delivered event with
// alert_relayed on: the bus event turned into an edge.alert.relayed envelope.
func BenchmarkTranslateRelayed(b *testing.B) {
	bus := events.New(time.Now)
	p := New(Options{Config: Config{Adapter: "mem", CoreName: "plant-7", Buffer: 16, StopFlush: time.Second, AlertRelayed: true},
		Publisher: newMemBroker(), Bus: bus})
	p.SetNode(Node{ID: "01JE5Q2W9RZ7K3M4N5P6Q7R8ST"})
	defer p.sub.Close()
	e := events.Event{Kind: events.Delivered, Time: time.Now(), Source: "plc-alarms", Sink: "ilert-main",
		EventID: "01JE5Q3A0B1C2D3E4F5G6H7J8K", Key: "pump-7/pressure"}
	b.ReportAllocs()
	for b.Loop() {
		if len(p.translate(e)) != 1 {
			b.Fatal("no message")
		}
	}
}
