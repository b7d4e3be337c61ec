package mqtt

import (
	"crypto/tls"
	"strconv"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// harness is the conformance harness for a broker at addr; env adds variables.
func harness(addr string, env map[string]string, sub func(*paho.ClientOptions)) lifecycletest.Harness {
	with := func(over map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range env {
			m[k] = v
		}
		for k, v := range over {
			m[k] = v
		}
		return m
	}
	return lifecycletest.Harness{
		New: func(t *testing.T) lifecycle.Publisher { return build(t, with(map[string]string{EnvURL: addr}), nil) },
		Subscribe: func(t *testing.T) <-chan lifecycletest.Received {
			return subscribe(t, addr, sub)
		},
		Where: func(m lifecycle.Message) string { return lifecycle.MQTTTopic(m.Type) },
		// MQTT promotes by topic only; "retained" is the subscriber's view of the
		// retain flag, which must be off.
		Promoted: func(lifecycle.Message) map[string]string { return map[string]string{"retained": "false"} },
		Unreachable: func(t *testing.T) lifecycle.Publisher {
			return build(t, with(map[string]string{EnvURL: lifecycletest.FreeAddr(t)}), nil)
		},
	}
}

// TestConformance runs the suite at QoS 0, 1 and 2 against the embedded Mochi
// broker and the machine's Mosquitto.
func TestConformance(t *testing.T) {
	for _, qos := range []int{0, 1, 2} {
		q := strconv.Itoa(qos)
		t.Run("mochi/qos"+q, func(t *testing.T) {
			b := startMochi(t, nil, nil)
			lifecycletest.Run(t, harness(b.addr, map[string]string{EnvQoS: q}, nil))
		})
		t.Run("mosquitto/qos"+q, func(t *testing.T) {
			adaptertest.NeedService(t, "Mosquitto", mosquittoAddr)
			lifecycletest.Run(t, harness(mosquittoAddr, map[string]string{EnvQoS: q}, nil))
		})
	}
}

// TestConformanceTLS runs the suite over TLS (SSL with a CA file) and mutual TLS
// (a broker that requires a client certificate) against Mochi.
func TestConformanceTLS(t *testing.T) {
	pki := newPKI(t)
	for _, mutual := range []bool{false, true} {
		name := "tls"
		if mutual {
			name = "mtls"
		}
		t.Run(name, func(t *testing.T) {
			b := startMochi(t, pki.server(t, mutual), nil)
			env := map[string]string{EnvSSL: "true", EnvCACertFile: pki.caFile}
			if mutual {
				env[EnvClientCertFile], env[EnvClientKeyFile] = pki.certFile, pki.keyFile
			}
			lifecycletest.Run(t, harness(b.addr, env, func(o *paho.ClientOptions) {
				o.SetTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pki.ca.Pool(),
					Certificates: []tls.Certificate{pki.client.Certificate(t)}})
			}))
		})
	}
}

// TestMTLSWithoutClientCert: a broker that requires a client certificate refuses a
// publisher without one, and Connect says it is the TLS handshake.
func TestMTLSWithoutClientCert(t *testing.T) {
	pki := newPKI(t)
	b := startMochi(t, pki.server(t, true), nil)
	p := build(t, map[string]string{EnvURL: b.addr, EnvSSL: "true", EnvCACertFile: pki.caFile}, nil)
	err := p.Connect(t.Context())
	if err == nil { // TLS 1.3: the server's refusal may come with the first read
		err = p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-m", "c"))
	}
	require.Error(t, err)
}

// TestTLSUnknownCA: without the CA file the broker's certificate is not trusted.
func TestTLSUnknownCA(t *testing.T) {
	pki := newPKI(t)
	b := startMochi(t, pki.server(t, false), nil)
	p := build(t, map[string]string{EnvURL: b.addr, EnvSSL: "true"}, nil)
	err := p.Connect(t.Context())
	require.ErrorContains(t, err, "TLS handshake")
	require.ErrorContains(t, err, "certificate")
}
