package kafka

import (
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
)

// auth is how a test cluster and its clients log in.
type auth struct {
	mechanism  string // MechanismPlain …; "" means no SASL
	user, pass string
	ca         *tlsfilestest.CA // non-nil: the cluster speaks TLS with a certificate it signed
	caFile     string
}

// kfakeMethod is kfake's name of a mechanism.
func kfakeMethod(m string) string {
	switch m {
	case MechanismSCRAMSHA256:
		return "SCRAM-SHA-256"
	case MechanismSCRAMSHA512:
		return "SCRAM-SHA-512"
	}
	return "PLAIN"
}

// withTLS makes a CA, writes its file and returns a with TLS on.
func withTLS(t *testing.T, a auth) auth {
	a.ca = tlsfilestest.NewCA(t, "edgerelay test CA")
	a.caFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(a.caFile, a.ca.PEM, 0o600))
	return a
}

// clusterOpts are the kfake options of a.
func clusterOpts(t *testing.T, a auth) []kfake.Opt {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, lifecycle.TopicNodes, lifecycle.TopicCommands)}
	if a.mechanism != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(kfakeMethod(a.mechanism), a.user, a.pass))
	}
	if a.ca != nil {
		leaf := a.ca.Issue(t, "kafka", true)
		opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{leaf.Certificate(t)}, MinVersion: tls.VersionTLS12}))
	}
	return opts
}

// startCluster starts kfake; it stops when the test ends.
func startCluster(t *testing.T, a auth, extra ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append(clusterOpts(t, a), extra...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// proxiedListener is a kfake listener that advertises the proxy's address, so that
// every connection of a client, not only the bootstrap one, runs through the proxy.
type proxiedListener struct {
	net.Listener
	addr net.Addr
}

func (l proxiedListener) Addr() net.Addr { return l.addr }

// startProxiedCluster starts kfake behind a lifecycletest.Proxy.
func startProxiedCluster(t *testing.T, a auth) (*kfake.Cluster, *lifecycletest.Proxy) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	px := lifecycletest.NewProxy(t, ln.Addr().String())
	paddr, err := net.ResolveTCPAddr("tcp", px.Addr)
	require.NoError(t, err)
	used := false
	c := startCluster(t, a, kfake.ListenFn(func(network, address string) (net.Listener, error) {
		require.False(t, used, "kfake listens once per broker")
		used = true
		return proxiedListener{Listener: ln, addr: paddr}, nil
	}))
	return c, px
}

// config returns the adapter's Config for addrs and a, through the variables.
func config(t *testing.T, addrs []string, a auth) *Config {
	t.Helper()
	env := map[string]string{VarURLs: joinAddrs(addrs)}
	if a.mechanism != "" {
		env[VarUsername], env[VarPassword], env[VarSASLMechanism] = a.user, a.pass, a.mechanism
	}
	c := NewConfig()
	if a.ca != nil {
		env[VarSSL] = "true"
		c.CAFile = a.caFile
	}
	c.Timeout = 5 * time.Second
	require.NoError(t, c.ApplyEnv(lifecycle.MapEnv(env)))
	require.NoError(t, c.Validate())
	return c
}

func joinAddrs(addrs []string) string {
	s := ""
	for i, a := range addrs {
		if i > 0 {
			s += ","
		}
		s += a
	}
	return s
}

// newPub builds a publisher for addrs; it is closed when the test ends.
func newPub(t *testing.T, addrs []string, a auth) lifecycle.Publisher {
	t.Helper()
	p, err := config(t, addrs, a).Build(lifecycle.Deps{Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// subscriberConfig is a sarama consumer's configuration for a cluster of a.
func subscriberConfig(t *testing.T, a auth) *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.ClientID = "lifecycle-test-subscriber"
	if a.ca != nil {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = &tls.Config{RootCAs: a.ca.Pool(), MinVersion: tls.VersionTLS12}
	}
	if a.mechanism != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.User, sc.Net.SASL.Password = a.user, a.pass
		switch a.mechanism {
		case MechanismSCRAMSHA256:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAM(sha256Hash) }
		case MechanismSCRAMSHA512:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAM(sha512Hash) }
		default:
			sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		}
	}
	return sc
}

// subscribe consumes every partition of both domain topics from their current end
// and returns what arrives, with the key as "key" and every header in Attrs. It
// stops when the test ends.
func subscribe(t *testing.T, addrs []string, a auth) <-chan lifecycletest.Received {
	t.Helper()
	cons, err := sarama.NewConsumer(addrs, subscriberConfig(t, a))
	require.NoError(t, err)
	out := make(chan lifecycletest.Received, 100)
	done := make(chan struct{})
	var pcs []sarama.PartitionConsumer
	for _, topic := range []string{lifecycle.TopicNodes, lifecycle.TopicCommands} {
		parts, err := cons.Partitions(topic)
		require.NoError(t, err)
		for _, part := range parts {
			pc, err := cons.ConsumePartition(topic, part, sarama.OffsetNewest)
			require.NoError(t, err)
			pcs = append(pcs, pc)
			// Forwards until the partition consumer closes its channel.
			go func() {
				for m := range pc.Messages() {
					r := lifecycletest.Received{Where: m.Topic, Body: m.Value, Attrs: map[string]string{"key": string(m.Key)}}
					for _, h := range m.Headers {
						r.Attrs[string(h.Key)] = string(h.Value)
					}
					select {
					case out <- r:
					case <-done:
					}
				}
			}()
		}
	}
	t.Cleanup(func() {
		close(done)
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		_ = cons.Close()
	})
	return out
}

// harness is the conformance harness for a cluster of a at addrs.
func harness(addrs []string, a auth) lifecycletest.Harness {
	return lifecycletest.Harness{
		New:       func(t *testing.T) lifecycle.Publisher { return newPub(t, addrs, a) },
		Subscribe: func(t *testing.T) <-chan lifecycletest.Received { return subscribe(t, addrs, a) },
		Where:     func(m lifecycle.Message) string { return lifecycle.DomainTopic(m.Type) },
		Promoted: func(m lifecycle.Message) map[string]string {
			return map[string]string{
				"type": m.Type, "corename": m.CoreName, "key": m.CoreName,
				"content-type": "application/cloudevents+json",
			}
		},
		OrderedPerWhere: true,
		Unreachable: func(t *testing.T) lifecycle.Publisher {
			return newPub(t, []string{lifecycletest.FreeAddr(t)}, a)
		},
	}
}
