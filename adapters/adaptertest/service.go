package adaptertest

import (
	"net"
	"os"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where every machine service
// a test needs must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedService makes a test that needs a machine service (Mosquitto, NATS, RabbitMQ,
// Redis …) at addr either run, skip with a visible message when the service is absent
// on a developer machine, or fail under CI, where its absence is a broken setup.
func NeedService(t testing.TB, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	if InCI() {
		t.Fatalf("this test needs the machine's %s on %s, which CI must provide: %v", name, addr, err)
	}
	t.Skipf("SKIP: needs the machine's %s on %s (not reachable: %v); CI=true makes this a failure", name, addr, err)
}
