package kafka

import (
	"testing"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

const sinkConformancePassword = "KafkaSinkPw-3c5e7g9i1k"

// TestSinkConformance runs the sink conformance suite against an in-process kfake
// cluster that takes SASL/PLAIN (the password is the suite's secret) and keeps its
// log on disk, so that Restart brings it back on the same port with its records.
// The peer's answers are real produce responses: a permanent failure is the broker's
// MESSAGE_TOO_LARGE, a temporary one NOT_ENOUGH_REPLICAS on every attempt sarama
// makes for the record.
func TestSinkConformance(t *testing.T) {
	sc := newSinkCluster(t, "conformance-sink", 4, "relay", sinkConformancePassword)
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink { return newTestSink(t, sc, nil, nil) },
		Received: func(t *testing.T) []adaptertest.Delivery {
			var out []adaptertest.Delivery
			for _, r := range sc.records(t) {
				out = append(out, adaptertest.Delivery{ID: r.Headers[HeaderEventID], Payload: r.Value})
			}
			return out
		},
		FailNext: func(t *testing.T, n int, permanent bool) {
			if permanent {
				sc.failProduce(n, codeMessageTooLarge)
				return
			}
			sc.failProduce(n*(producerRetries+1), codeNotEnoughReplicas)
		},
		Restart: sc.restart,
		// Records of one key go to one partition and are read back in offset order.
		Ordered: true,
		Secret:  sinkConformancePassword,
	})
}
