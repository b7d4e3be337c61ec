package redis

import (
	"testing"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// TestConformance runs the lifecycle suite against the machine's Redis; the
// subscriber is a raw RESP PSUBSCRIBE edge.* connection of the test's own, and a
// message's channel must be its type.
func TestConformance(t *testing.T) {
	needRedis(t)
	lifecycletest.Run(t, lifecycletest.Harness{
		New: func(t *testing.T) lifecycle.Publisher { return byURL(t, "redis://"+machineRedis) },
		Subscribe: func(t *testing.T) <-chan lifecycletest.Received {
			return subscribe(t, machineRedis, "PSUBSCRIBE", "edge.*")
		},
		Where: func(m lifecycle.Message) string { return m.Type },
		Unreachable: func(t *testing.T) lifecycle.Publisher {
			return byURL(t, "redis://"+lifecycletest.FreeAddr(t))
		},
	})
}
