package nats

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// harness runs the suite against the server at url, on core NATS or JetStream.
func harness(url string, jetStream bool) lifecycletest.Harness {
	return lifecycletest.Harness{
		New: func(t *testing.T) lifecycle.Publisher {
			return newPublisher(t, &Config{URLs: []string{url}, JetStream: jetStream})
		},
		Subscribe: func(t *testing.T) <-chan lifecycletest.Received { return subscribe(t, url) },
		Where:     func(m lifecycle.Message) string { return m.Type },
		Promoted: func(m lifecycle.Message) map[string]string {
			attrs := map[string]string{"type": m.Type, "corename": m.CoreName, "Content-Type": lifecycle.ContentType}
			if jetStream {
				attrs["Nats-Msg-Id"] = m.ID
			}
			return attrs
		},
		Unreachable: func(t *testing.T) lifecycle.Publisher {
			return newPublisher(t, &Config{URLs: []string{"nats://" + lifecycletest.FreeAddr(t)}, JetStream: jetStream})
		},
	}
}

// TestConformance runs the suite against the machine's NATS server, on core NATS
// and with JetStream (the stream EDGE_EVENTS is created there when missing).
func TestConformance(t *testing.T) {
	url := needMachineNATS(t)
	t.Run("Core", func(t *testing.T) { lifecycletest.Run(t, harness(url, false)) })
	t.Run("JetStream", func(t *testing.T) { lifecycletest.Run(t, harness(url, true)) })
}

// TestConformanceEmbedded runs the suite against an in-process server, so that it
// runs where the machine has no NATS.
func TestConformanceEmbedded(t *testing.T) {
	s := runServer(t, &server.Options{JetStream: true})
	t.Run("Core", func(t *testing.T) { lifecycletest.Run(t, harness(s.ClientURL(), false)) })
	t.Run("JetStream", func(t *testing.T) { lifecycletest.Run(t, harness(s.ClientURL(), true)) })
}
