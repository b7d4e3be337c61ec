package kafka

import (
	"testing"

	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

func TestConformance(t *testing.T) {
	c := startCluster(t, auth{})
	lifecycletest.Run(t, harness(c.ListenAddrs(), auth{}))
}

// TestConformanceAuth runs the suite for every auth option of the seed: SASL
// PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, each without and with TLS, and TLS
// alone.
func TestConformanceAuth(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    auth
		tls  bool
	}{
		{"plain", auth{mechanism: MechanismPlain, user: "edge", pass: "plain-s3cret"}, false},
		{"scram_sha_256", auth{mechanism: MechanismSCRAMSHA256, user: "edge", pass: "scram256-s3cret"}, false},
		{"scram_sha_512", auth{mechanism: MechanismSCRAMSHA512, user: "edge,=odd", pass: "scram512-s3cret"}, false},
		{"ssl", auth{}, true},
		{"ssl+plain", auth{mechanism: MechanismPlain, user: "edge", pass: "plain-s3cret"}, true},
		{"ssl+scram_sha_512", auth{mechanism: MechanismSCRAMSHA512, user: "edge", pass: "scram512-s3cret"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			if tc.tls {
				a = withTLS(t, a)
			}
			c := startCluster(t, a)
			lifecycletest.Run(t, harness(c.ListenAddrs(), a))
		})
	}
}
