package adaptertest

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where every machine service
// and capability a test needs must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing ends a test that cannot run on this machine because something it needs is
// absent (a service, root, a file of the repository, a port it must take back). On a
// developer machine it skips with a visible "SKIP:" line; under CI, where the setup
// must provide everything, it fails the test instead, so that a broken setup cannot
// pass as green. The message says what is missing and why.
//
// A test that is not meant to run in some mode (-short, a helper process) skips with
// t.Skip as usual: that is a choice, not a missing capability.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s; CI must provide it", msg)
	}
	t.Skipf("SKIP: %s; CI=true makes this a failure", msg)
}

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
	Missing(t, "needs the machine's %s on %s (not reachable: %v)", name, addr, err)
}
