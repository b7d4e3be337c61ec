package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

var errRefused = errors.New("test: refused")

// waitProbe produces probes to topic until pub accepts one, so that the source is
// known to be consuming.
func waitProbe(t *testing.T, cl *cluster, topic string, p *pub) {
	t.Helper()
	probe := "probe-" + randHex(4)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		cl.produce(t, topic, -1, nil, fmt.Appendf(nil, "%s-%d", probe, i))
		wait := time.Now().Add(250 * time.Millisecond)
		for time.Now().Before(wait) {
			for _, e := range p.events() {
				if strings.HasPrefix(string(e.Payload), probe) {
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.True(t, time.Now().Before(deadline), "no probe reached the source")
	}
}

// TestInitialOffset: a new group with initial_offset oldest reads the backlog
// produced before it existed; with newest it reads only what comes after it joined.
func TestInitialOffset(t *testing.T) {
	const topic = "initial"
	cl := newCluster(t, 3, topic)
	backlog := cl.produceN(t, topic, "backlog", 30)

	oldest := newPub(nil)
	r1 := start(t, newSource(t, cl, "g-oldest", topic, nil, nil), oldest)
	require.Eventually(t, func() bool { return oldest.acceptedAll(backlog) }, 30*time.Second, 20*time.Millisecond,
		"initial_offset oldest reads the backlog")
	r1.stop(t)

	newest := newPub(nil)
	r2 := start(t, newSource(t, cl, "g-newest", topic, nil, func(c *Config) { c.InitialOffset = OffsetNewest }), newest)
	waitProbe(t, cl, topic, newest)
	later := cl.produceN(t, topic, "later", 9)
	require.Eventually(t, func() bool { return newest.acceptedAll(later) }, 30*time.Second, 20*time.Millisecond)
	require.Zero(t, newest.acceptedOf(backlog), "initial_offset newest skips the backlog")
	r2.stop(t)
}

// TestRefusalRedelivers: a message the daemon refuses is consumed again, nothing at
// or past it is committed while it is refused, other partitions carry on, and the
// process never exits; once accepted, the partition moves on.
func TestRefusalRedelivers(t *testing.T) {
	const topic, group = "refuse", "g-refuse"
	cl := newCluster(t, 3, topic)
	var p0, p1 []string
	for i := range 10 {
		p0 = append(p0, fmt.Sprintf("p0-%d", i))
		cl.produce(t, topic, 0, nil, []byte(p0[i]))
		p1 = append(p1, fmt.Sprintf("p1-%d", i))
		cl.produce(t, topic, 1, nil, []byte(p1[i]))
	}

	// Refusals are held back until partition 1 is accepted: a refusal ends
	// the session, and a session ended before partition 1 was fetched would leave
	// its progress to the race between each rejoin and the next refusal.
	var released atomic.Bool
	refuse := func(e *adapters.Event, _ int) (error, bool) {
		if string(e.Payload) == "p0-5" {
			return errRefused, !released.Load()
		}
		return nil, false
	}
	h := newHealthRec()
	p := newPub(refuse)
	r := start(t, newSource(t, cl, group, topic, h, nil), p)
	require.Eventually(t, func() bool { return p.acceptedAll(p1) && p.heldCount() > 0 }, 30*time.Second, 20*time.Millisecond,
		"partition 1 is accepted while partition 0's refusal is pending")
	released.Store(true)
	require.Eventually(t, func() bool {
		p.release(errRefused) // also one held while released was being set
		return p.seenCount("p0-5") >= 3
	}, 30*time.Second, 20*time.Millisecond, "the refused message is consumed again")
	// The committed offset of partition 0 reaches the refused message, never past it.
	require.Eventually(t, func() bool { return cl.committed(t, group, topic)[0] == 5 }, 30*time.Second, 50*time.Millisecond)
	require.Zero(t, p.acceptedCount("p0-5"))
	for i := 6; i < 10; i++ {
		// Later messages of the partition are never accepted past the refusal or,
		// if they were, their offsets were not committed.
		require.LessOrEqual(t, cl.committed(t, group, topic)[0], int64(5))
	}
	ok, _ := h.get(condStarted)
	require.True(t, ok, "the consumer keeps running")
	r.stop(t)
	c := cl.committed(t, group, topic)
	require.Equal(t, int64(5), c[0], "nothing past the refused message is committed")
	require.Equal(t, int64(10), c[1], "the other partition is committed on stop")
	ok, detail := h.get(condSubscribed)
	require.False(t, ok)
	require.Equal(t, "stopped", detail)

	// A fresh source in the group starts at the refused message.
	p2 := newPub(nil)
	r2 := start(t, newSource(t, cl, group, topic, nil, nil), p2)
	require.Eventually(t, func() bool { return p2.acceptedAll(p0[5:]) }, 30*time.Second, 20*time.Millisecond)
	require.Zero(t, p2.acceptedOf(p0[:5]), "what was committed is not consumed again")
	require.Zero(t, p2.acceptedOf(p1))
	r2.stop(t)
	require.Equal(t, int64(10), cl.committed(t, group, topic)[0])
}

// TestRefusalThenAccept: the same source recovers by itself once the daemon
// accepts again.
func TestRefusalThenAccept(t *testing.T) {
	const topic, group = "refuse2", "g-refuse2"
	cl := newCluster(t, 2, topic)
	msgs := cl.produceN(t, topic, "m", 20)
	p := newPub(func(e *adapters.Event, nth int) (error, bool) {
		if (string(e.Payload) == "m-4" || string(e.Payload) == "m-13") && nth <= 3 {
			return errRefused, false // refused three times each
		}
		return nil, false
	})
	r := start(t, newSource(t, cl, group, topic, nil, nil), p)
	require.Eventually(t, func() bool {
		for _, m := range msgs {
			if p.seenCount(m) == 0 {
				return false
			}
		}
		return true
	}, 60*time.Second, 20*time.Millisecond)
	r.stop(t)
	c := cl.committed(t, group, topic)
	require.Equal(t, int64(10), c[0])
	require.Equal(t, int64(10), c[1])
}

// TestGroupSplitAndTakeover: two sources in one group split the partitions, each
// message is handled once, and when one stops the survivor takes over its
// partitions, including the messages it had received but not settled.
func TestGroupSplitAndTakeover(t *testing.T) {
	const topic, group = "split", "g-split"
	cl := newCluster(t, 4, topic)
	pa, pb := newPub(nil), newPub(nil)
	ra := start(t, newSource(t, cl, group, topic, nil, nil), pa)
	waitProbe(t, cl, topic, pa)
	rb := start(t, newSource(t, cl, group, topic, nil, nil), pb)
	// Wait for the rebalance: both members consume.
	var warm []string
	require.Eventually(t, func() bool {
		warm = append(warm, cl.produceN(t, topic, "warm-"+randHex(2), 4)...)
		return len(pa.partitions()) > 0 && len(pb.partitions()) > 0 &&
			len(pa.partitions())+len(pb.partitions()) >= 4
	}, 60*time.Second, 300*time.Millisecond, "both sources get partitions")
	require.Eventually(t, func() bool {
		for _, m := range warm {
			if pa.acceptedCount(m)+pb.acceptedCount(m) == 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "the warm-up messages settle")

	msgs := cl.produceN(t, topic, "split", 400)
	require.Eventually(t, func() bool {
		for _, m := range msgs {
			if pa.acceptedCount(m)+pb.acceptedCount(m) == 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "every message is handled")
	na, nb := pa.acceptedOf(msgs), pb.acceptedOf(msgs)
	require.Positive(t, na)
	require.Positive(t, nb)
	for _, m := range msgs {
		require.Equal(t, 1, pa.acceptedCount(m)+pb.acceptedCount(m), "message %s handled once", m)
	}
	t.Logf("split: a handled %d on partitions %v, b %d on %v", na, keys(pa.partitions()), nb, keys(pb.partitions()))

	// A now holds every message back: it receives but does not settle.
	pa.setDecide(func(*adapters.Event, int) (error, bool) { return nil, true })
	rest := cl.produceN(t, topic, "rest", 200)
	require.Eventually(t, func() bool { return pa.heldCount() > 0 && pb.acceptedOf(rest) > 0 },
		30*time.Second, 20*time.Millisecond)
	ra.stop(t)
	pa.release(errRefused) // after Run returned: ignored by the source, never committed
	require.Eventually(t, func() bool { return pb.acceptedAll(rest) }, 60*time.Second, 20*time.Millisecond,
		"the survivor receives what the stopped source did not commit")
	require.Len(t, pb.partitions(), 4, "the survivor owns every partition")
	rb.stop(t)
}

func keys(m map[int32]bool) []int32 {
	var out []int32
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestEventFields: how messages become events, including payloads that are not
// JSON and keys that are not UTF-8.
func TestEventFields(t *testing.T) {
	const topic = "fields"
	cl := newCluster(t, 2, topic)
	cl.produce(t, topic, 1, []byte("dev-7"), []byte("\xff\xfe not json at all"))
	cl.produce(t, topic, 1, []byte{0xff, 0xfe}, []byte(`{"alarm":{"id":"A-1"}}`))
	cl.produce(t, topic, 1, nil, []byte(`{"alarm":{}}`))
	cl.produce(t, topic, 1, []byte("k"), nil)

	p := newPub(nil)
	r := start(t, newSource(t, cl, "g-fields", topic, nil, func(c *Config) {
		c.KeyPath = "alarm.id"
		c.Kind = adapters.KindAlert
	}), p)
	require.Eventually(t, func() bool { return len(p.events()) >= 4 }, 30*time.Second, 20*time.Millisecond)
	r.stop(t)
	evs := p.events()
	want := []struct {
		payload, key, attrKey string
	}{
		{"\xff\xfe not json at all", "dev-7", "dev-7"}, // not JSON: the message key
		{`{"alarm":{"id":"A-1"}}`, "A-1", ""},          // key_path wins; a non-UTF-8 key is ""
		{`{"alarm":{}}`, "", ""},                       // nothing at the path, no message key
		{"", "k", "k"},                                 // no value
	}
	for i, w := range want {
		e := evs[i]
		require.Equal(t, w.payload, string(e.Payload), "event %d", i)
		require.Equal(t, w.key, e.Key, "event %d", i)
		require.Equal(t, topic, e.Topic)
		require.Equal(t, adapters.KindAlert, e.Kind)
		require.Equal(t, "k", e.Source)
		require.NotEmpty(t, e.ID)
		require.False(t, e.Received.IsZero())
		require.Equal(t, map[string]string{
			"kafka.key": w.attrKey, "kafka.partition": "1", "kafka.offset": fmt.Sprint(i),
		}, e.Attrs)
	}
}

// TestShutdownUnderLoad: stopping while thousands of messages are in flight, done
// called late and out of order, returns nil, leaks nothing (goleak in TestMain)
// and loses nothing: the next source in the group receives what was not committed.
func TestShutdownUnderLoad(t *testing.T) {
	const topic, group = "load", "g-load"
	cl := newCluster(t, 4, topic)
	msgs := cl.produceN(t, topic, "load", 3000)
	rec := adaptertest.NewRecorder(adaptertest.DelayDone(func(_ *adapters.Event, seq int) time.Duration {
		return time.Duration(seq%7) * time.Millisecond
	}))
	r := start(t, newSource(t, cl, group, topic, nil, func(c *Config) { c.MaxInflight = 100 }), rec)
	require.Eventually(t, func() bool { return len(rec.Accepted()) >= 300 }, 30*time.Second, 5*time.Millisecond)
	r.stop(t)
	rec.Wait()
	first := map[string]bool{}
	for _, e := range rec.Accepted() {
		first[string(e.Payload)] = true
	}
	require.Less(t, len(first), len(msgs), "the stop lands mid-flow")

	p := newPub(nil)
	r2 := start(t, newSource(t, cl, group, topic, nil, nil), p)
	require.Eventually(t, func() bool {
		for _, m := range msgs {
			if !first[m] && p.acceptedCount(m) == 0 {
				return false
			}
		}
		return true
	}, 60*time.Second, 20*time.Millisecond, "nothing is lost")
	r2.stop(t)
	dups := 0
	for _, m := range msgs {
		if first[m] && p.acceptedCount(m) > 0 {
			dups++
		}
	}
	t.Logf("first run accepted %d of %d; %d consumed again by the second", len(first), len(msgs), dups)
}

// TestMaxInflight: no more than max_inflight messages are ever unsettled. The
// publisher holds every message and checks, at each Publish, that fewer than
// max_inflight are held: the source may publish only once it has a free slot, so a
// Publish with every slot held is a violation whenever it happens. The test then
// settles the held messages a batch at a time; each batch lets exactly the next
// max_inflight through, until all are seen.
func TestMaxInflight(t *testing.T) {
	const topic, limit = "inflight", 7
	cl := newCluster(t, 3, topic)
	msgs := cl.produceN(t, topic, "m", 60)
	var over atomic.Int32
	p := newPub(nil)
	p.setDecide(func(*adapters.Event, int) (error, bool) {
		if p.heldCount() >= limit {
			over.Add(1)
		}
		return nil, true
	})
	r := start(t, newSource(t, cl, "g-inflight", topic, nil, func(c *Config) { c.MaxInflight = limit }), p)
	for settled := 0; settled < len(msgs); {
		batch := min(limit, len(msgs)-settled)
		require.Eventually(t, func() bool { return p.heldCount() >= batch || over.Load() > 0 }, 30*time.Second,
			time.Millisecond, "%d settled: the next %d are published", settled, batch)
		require.Zero(t, over.Load(), "published with %d messages unsettled", limit)
		settled += batch
		p.release(nil)
	}
	for _, m := range msgs {
		require.Positive(t, p.seenCount(m), "message %s", m)
	}
	require.Zero(t, over.Load(), "published with %d messages unsettled", limit)
	r.stop(t)
}

// TestHealth: consumer_started and subscribed while running, false after Run.
func TestHealth(t *testing.T) {
	const topic = "health"
	cl := newCluster(t, 2, topic)
	h := newHealthRec()
	p := newPub(nil)
	r := start(t, newSource(t, cl, "g-health", topic, h, nil), p)
	waitProbe(t, cl, topic, p)
	for _, c := range []string{condStarted, condSubscribed} {
		ok, detail := h.get(c)
		require.True(t, ok, "%s: %s", c, detail)
	}
	r.stop(t)
	for _, c := range []string{condStarted, condSubscribed} {
		ok, _ := h.get(c)
		require.False(t, ok, c)
	}
}

// TestMissingTopic: a topic the cluster does not have is reported, retried with
// backoff, and consumed once it exists.
func TestMissingTopic(t *testing.T) {
	cl := newCluster(t, 2, "present")
	h := newHealthRec()
	p := newPub(nil)
	r := start(t, newSource(t, cl, "g-missing", "absent", h, nil), p)
	require.Eventually(t, func() bool {
		ok, detail := h.get(condSubscribed)
		return !ok && detail != "" && detail != "not joined"
	}, 30*time.Second, 20*time.Millisecond)
	_, detail := h.get(condSubscribed)
	t.Logf("subscribed: %s", detail)
	r.stop(t)
}

// TestSASLPlain: SASL/PLAIN credentials are used; wrong ones keep the consumer
// from starting, and Run still returns nil on cancel.
func TestSASLPlain(t *testing.T) {
	const topic = "sasl"
	cl := newClusterOpts(t, 2, []string{topic},
		[]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "relay", "s3cret")},
		func(sc *sarama.Config) {
			sc.Net.SASL.Enable = true
			sc.Net.SASL.User = "relay"
			sc.Net.SASL.Password = "s3cret"
		})
	p := newPub(nil)
	r := start(t, newSource(t, cl, "g-sasl", topic, nil, func(c *Config) {
		c.SASL = SASLConfig{Username: "relay", Password: "s3cret"}
	}), p)
	waitProbe(t, cl, topic, p)
	r.stop(t)

	h := newHealthRec()
	r2 := start(t, newSource(t, cl, "g-sasl", topic, h, func(c *Config) {
		c.SASL = SASLConfig{Username: "relay", Password: "wrong"}
	}), newPub(nil))
	require.Eventually(t, func() bool {
		ok, detail := h.get(condStarted)
		return !ok && detail != "starting"
	}, 30*time.Second, 20*time.Millisecond)
	_, detail := h.get(condStarted)
	t.Logf("consumer_started: %s", detail)
	r2.stop(t)
}

// TestTLS: with tls.ca_file the source verifies the brokers' certificate and
// consumes over TLS; with a CA that did not sign it, it does not start.
func TestTLS(t *testing.T) {
	const topic = "tls"
	dir := t.TempDir()
	caPEM, serverCert := selfSigned(t)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o600))
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	cl := newClusterOpts(t, 2, []string{topic},
		[]kfake.Opt{kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12})},
		func(sc *sarama.Config) {
			sc.Net.TLS.Enable = true
			sc.Net.TLS.Config = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		})
	p := newPub(nil)
	r := start(t, newSource(t, cl, "g-tls", topic, nil, func(c *Config) { c.TLS.CAFile = caFile }), p)
	waitProbe(t, cl, topic, p)
	r.stop(t)

	otherCA, _ := selfSigned(t)
	otherFile := filepath.Join(dir, "other.pem")
	require.NoError(t, os.WriteFile(otherFile, otherCA, 0o600))
	h := newHealthRec()
	r2 := start(t, newSource(t, cl, "g-tls", topic, h, func(c *Config) { c.TLS.CAFile = otherFile }), newPub(nil))
	require.Eventually(t, func() bool {
		ok, detail := h.get(condStarted)
		return !ok && detail != "starting"
	}, 30*time.Second, 20*time.Millisecond)
	r2.stop(t)
}

// selfSigned returns a CA certificate (PEM) and a server certificate for
// 127.0.0.1 signed by it.
func selfSigned(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
