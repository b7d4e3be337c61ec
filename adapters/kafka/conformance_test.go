package kafka

import (
	"testing"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// TestConformance runs the source conformance suite against an in-process kfake
// cluster with a four-partition topic. Every case's New builds a fresh source in
// the same consumer group, as a restarted relay would, so each case resumes from the
// offsets the previous one committed; a message left uncommitted is consumed again
// after the source rejoins: Redelivers holds.
func TestConformance(t *testing.T) {
	const topic = "conformance"
	cl := newCluster(t, 4, topic)
	group := "conformance-" + randHex(4)
	adaptertest.RunSource(t, adaptertest.SourceHarness{
		New: func(t *testing.T) adapters.Source {
			return newSource(t, cl, group, topic, nil, nil)
		},
		Inject: func(t *testing.T, payload []byte) {
			cl.produce(t, topic, -1, nil, payload)
		},
		Redelivers: true,
	})
}
