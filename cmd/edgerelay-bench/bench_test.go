//go:build linux

package main

import (
	"bytes"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/alertatest"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	_ "github.com/edgerelay/edgerelay/adapters/all"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
	"github.com/edgerelay/edgerelay/adapters/ilert/mapping"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// TestConfigsLoad checks every generated configuration against the daemon's own
// strict loader, so a change there fails here rather than in the middle of a run.
func TestConfigsLoad(t *testing.T) {
	for _, o := range []cfgOpts{{}, {noSync: true}, {brokerOff: true}, {fastRetry: true}} {
		d := &daemon{dir: t.TempDir(), httpAddr: "127.0.0.1:18977", brokerAddr: "127.0.0.1:18883"}
		cfg, err := config.Parse([]byte(configYAML(d, "http://127.0.0.1:9/ingest", o)), "bench.yaml")
		require.NoError(t, err, "%+v", o)
		require.Equal(t, o.noSync, cfg.Store.UnsafeNoSync)
		require.Len(t, cfg.Sources, map[bool]int{false: 1, true: 0}[o.brokerOff])
	}
}

func TestPercentiles(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct{ p, want float64 }{{0.5, 5}, {0.99, 10}, {1, 10}, {0, 1}, {0.1, 1}, {0.11, 2}} {
		require.Equal(t, tc.want, pct(xs, tc.p), "p=%v", tc.p)
	}
	require.True(t, math.IsNaN(pct(nil, 0.5)))
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	require.True(t, math.IsNaN(median(nil)))
}

func TestPayload(t *testing.T) {
	p := payload(0xabcdef01, 65)
	require.Contains(t, string(p), `"id":"abcdef01-0000-4000-8000-000000000065","key":"k1"`)
	require.InDelta(t, 215, len(p), 10)
}

// TestIlertConfigLoads checks the ilert configurations the same way, transform included.
func TestIlertConfigLoads(t *testing.T) {
	for _, o := range []cfgOpts{{ilert: true}, {ilert: true, noSync: true}, {ilert: true, fastRetry: true}} {
		d := &daemon{dir: t.TempDir(), httpAddr: "127.0.0.1:18977", brokerAddr: "127.0.0.1:18883"}
		cfg, err := config.Parse([]byte(configYAML(d, "http://127.0.0.1:9", o)), "bench.yaml")
		require.NoError(t, err, "%+v", o)
		require.Len(t, cfg.Sinks, 1)
		require.Equal(t, "ilert", cfg.Sinks[0].Type)
		require.Len(t, cfg.Routes, 1)
		require.NotNil(t, cfg.Routes[0].Transform)
	}
}

// TestIlertPayloadMaps checks that the ilert message maps to an event the fake
// accepts, with the driver's id, send time and key where the sink looks for them.
func TestIlertPayloadMaps(t *testing.T) {
	msg := ilertPayload(0xabcdef01, 65)
	require.InDelta(t, 270, len(msg), 20)
	res, err := mapping.Map(mapping.Config{}, "bench/alerts", msg)
	require.NoError(t, err)
	require.False(t, res.Skip, res.Reason)
	require.Equal(t, "k1", res.AlertKey)
	require.Equal(t, ilertEventsPath, res.Path)
	_, err = ilerttest.ValidateEvent(res.Body, "il1api-bench")
	require.NoError(t, err)
	f := gjson.GetManyBytes(res.Body, "customDetails.id", "customDetails.ts", "alertKey", "integrationKey")
	require.Equal(t, "abcdef01-0000-4000-8000-000000000065", f[0].String())
	require.Positive(t, f[1].Int())
	require.Equal(t, "k1", f[2].String())
	require.Equal(t, "il1api-bench", f[3].String())
}

// TestSinkCountsOnlyAccepted checks the recording layer in front of the fake: only
// the fake's 202s are deliveries, and a late event of a key is counted out of order.
func TestSinkCountsOnlyAccepted(t *testing.T) {
	fake := ilerttest.NewServer(t)
	s := newSink(fake, "customDetails.id", "customDetails.ts", "alertKey")
	url, stop, err := s.serve()
	require.NoError(t, err)
	t.Cleanup(stop)
	body := func(i int) []byte {
		res, err := mapping.Map(mapping.Config{}, "bench/alerts", ilertPayload(1, i))
		require.NoError(t, err)
		return res.Body
	}
	post := func(i int) int {
		resp, err := http.Post(url+ilertEventsPath, "application/json", bytes.NewReader(body(i)))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	s.reset(3)
	s.pause(func() { fake.FailNext("*", 1, http.StatusServiceUnavailable) })
	require.Equal(t, http.StatusServiceUnavailable, post(0))
	require.Equal(t, 0, s.stats().unique)
	require.Equal(t, http.StatusAccepted, post(64)) // key k0
	require.Equal(t, http.StatusAccepted, post(0))  // key k0, earlier
	require.Equal(t, http.StatusAccepted, post(0))  // a duplicate
	st := s.stats()
	require.Equal(t, 2, st.unique)
	require.Equal(t, 1, st.dups)
	require.Equal(t, 1, st.outOfOrder)
	require.Len(t, fake.Events(), 3)
}

func TestSeqOf(t *testing.T) {
	n, ok := seqOf("abcdef01-0000-4000-8000-000000000065")
	require.True(t, ok)
	require.Equal(t, 65, n)
	_, ok = seqOf("short")
	require.False(t, ok)
}

// TestReportRenders renders both reports from made-up figures: every table has its
// columns and no figure is lost on the way (the allocation columns especially).
func TestReportRenders(t *testing.T) {
	b := burstOut{rate: 9000, unique: 20000, daemonCPU: 80, daemonSys: 20, gcCPU: 10, selfCPU: 70, allocs: 61.5, allocBytes: 5120, syscalls: 4.1, busy: 0.9, idle: 13, peak: 23}
	run := runOut{w1: []pair{{b, b}}, il: ilertRun{w1: []pair{{b, b}}, w3: drainOut{unique: 10, rss10: 1, anon10: 1}}}
	r := &results{opts: options{out: "x.md", runs: 1}, sz: sizes{pairs: 1, burst: 20000, backlog: 10}, runs: []runOut{run}, cold: []float64{9}}
	for _, out := range []string{report(r), reportW1(r)} {
		require.Contains(t, out, "daemon allocs/event")
		require.Contains(t, out, "| 1.1 | 9000 | 9000 | 1.00 | 20000 / 20000 | 0 / 0 | 80 | 20 / 10 | 70 | 62 | 5.0 | 4.1 | 90% |")
		require.Equal(t, 2, strings.Count(out, "| median | 9000 | 9000 | 1.00 |"), "one median row per W1 table")
	}
}

// TestKeptTail: a regenerated report keeps the hand-written tail of the previous one,
// and a previous report without one adds nothing.
func TestKeptTail(t *testing.T) {
	tail := keptMarker + "\n\n## Before and after\n\n| a | b |\n"
	for _, tc := range []struct{ name, previous, want string }{
		{"no previous tail", "# old report\n", "# new\n"},
		{"tail kept", "# old report\n\n" + tail, "# new\n\n" + tail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withKeptTail("# new\n", tc.previous); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAlertaConfigLoads checks W11's configurations against the daemon's strict
// loader: an alerta source and an alerta sink, the outage variant included.
func TestAlertaConfigLoads(t *testing.T) {
	for _, o := range []cfgOpts{{alerta: "http://127.0.0.1:9/api"}, {alerta: "http://127.0.0.1:9/api", fastRetry: true}, {alerta: "http://127.0.0.1:9/api", noHold: true}} {
		d := &daemon{dir: t.TempDir(), httpAddr: "127.0.0.1:18977", brokerAddr: "127.0.0.1:18883"}
		cfg, err := config.Parse([]byte(configYAML(d, "", o)), "bench.yaml")
		require.NoError(t, err, "%+v", o)
		require.Len(t, cfg.Sources, 1)
		require.Equal(t, "alerta", cfg.Sources[0].Type)
		require.Len(t, cfg.Sinks, 1)
		require.Equal(t, "alerta", cfg.Sinks[0].Type)
		require.Equal(t, o.noHold, cfg.Store.DeliverWindow < 0)
	}
}

// TestFedAlert checks W11's alert: valid for Alerta, ~400 bytes, the id seqOf reads,
// and per resource duplicates and correlations in turn.
func TestFedAlert(t *testing.T) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 123456000, time.UTC)
	body := fedAlert(0xabcdef01, 65, now)
	require.InDelta(t, 400, len(body), 40)
	a, e := alerta.DecodeAlert(body, alerta.Defaults{Now: now})
	require.Nil(t, e)
	require.Equal(t, "abcdef01-0000-4000-8000-000000000065", a.ID)
	require.Equal(t, "pump-01", a.Resource)
	require.Equal(t, now.UnixNano(), gjson.GetBytes(a.Encode(), "attributes.ts").Int(), "the forwarded body keeps the send time")
	n, ok := seqOf(a.ID)
	require.True(t, ok)
	require.Equal(t, 65, n)
	// The alerts of resource 0, in order: event and severity of each.
	var got []string
	for k := range 8 {
		f := gjson.GetManyBytes(fedAlert(1, k*fedResources, now), "event", "severity", "resource")
		require.Equal(t, "pump-00", f[2].String())
		got = append(got, f[0].String()+"/"+f[1].String())
	}
	require.Equal(t, []string{"PressureHigh/major", "PressureHigh/major", "PressureLow/major", "PressureLow/major",
		"PressureHigh/minor", "PressureHigh/minor", "PressureLow/minor", "PressureLow/minor"}, got)
}

func TestFedLast(t *testing.T) {
	require.Equal(t, []int{0, 1, 2}, fedLast(3))
	last := fedLast(1000)
	require.Len(t, last, fedResources)
	require.Equal(t, 960, last[0])
	require.Equal(t, 999, last[39])
	require.Equal(t, 959, last[63])
	for r, i := range last {
		require.Equal(t, r, i%fedResources)
		require.GreaterOrEqual(t, i+fedResources, 1000)
	}
}

// TestFedPeer drives the recording layer in front of the real Alerta fake as W11
// does: Hawk-signed posts are counted by their 201s (a duplicate too), a wrong key's
// 401 is not, and the fake can go down (connection refused) and come back on its
// port with its alerts.
func TestFedPeer(t *testing.T) {
	creds := hawk.Credentials{ID: fedHawkID, Key: fedHawkKey}
	fake := alertatest.NewServer(t, alertatest.Options{Prefix: "/api", AuthRequired: true, Hawk: []hawk.Credentials{creds}})
	fake.SetRecord(false)
	s := newSink(fake, "id", "attributes.ts", "resource")
	s.accept = http.StatusCreated
	base, stop, err := s.serve()
	require.NoError(t, err)
	p := &fedPeer{peer: &peer{s: s, url: base + "/api"}, fake: fake, addr: strings.TrimPrefix(base, "http://"), creds: creds, stop: stop}
	t.Cleanup(p.down)
	ctx := t.Context()
	s.reset(3)
	good, bad := newPoster(p.url, 1, &p.creds), newPoster(p.url, 1, &hawk.Credentials{ID: fedHawkID, Key: "wrong"})
	t.Cleanup(good.close)
	t.Cleanup(bad.close)
	now := time.Now()
	for i, want := range []int{http.StatusCreated, http.StatusCreated, http.StatusCreated} {
		code, answer, err := good.post(ctx, fedAlert(7, i*fedResources, now)) // one resource: new, duplicate, correlated
		require.NoError(t, err)
		require.Equal(t, want, code, answer)
	}
	code, answer, err := bad.post(ctx, fedAlert(7, 5, now))
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, code, answer)
	require.NotContains(t, answer, fedHawkKey)
	st := s.stats()
	require.Equal(t, 3, st.unique)
	require.Zero(t, st.dups)
	require.Len(t, fake.Alerts(), 1)
	a, ok := fake.Alert(fedID(7, 2*fedResources))
	require.True(t, ok)
	require.Equal(t, fedID(7, 2*fedResources), a.LastReceiveID)

	p.down()
	good.close()
	_, _, err = good.post(ctx, fedAlert(7, 6, now))
	require.Error(t, err, "down: connection refused")
	require.NoError(t, p.up())
	code, answer, err = good.post(ctx, fedAlert(7, 6, now))
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, code, answer)
	require.Len(t, fake.Alerts(), 2, "the fake keeps its alerts across the outage")
}

// TestReportW11Renders renders W11's section and checks from made-up figures: every
// phase has its row, and the checks count losses and compare the slow phase with
// the healthy one.
func TestReportW11Renders(t *testing.T) {
	f := fedOut{n: 1000, answered: 1000, rate: 1500, e2e: 1490, unique: 999, alertsAtFake: 64, commitsPerAlert: 0.125, bytesPerAlert: 6000, daemonCPU: 400, selfCPU: 300}
	for ph := range f.lat {
		f.lat[ph] = fedLat{n: 400, unique: 400, p50: 7, p99: 15, pmax: 20, at50: 0.7, at99: 2, sync50: 0.6, sync99: 1.3, synMax: 1.4}
	}
	f.lat[fedSlow].p99, f.lat[fedSlow].n, f.lat[fedSlow].unique = 203, 25, 25
	f.lat[fedDown].syncFailed = 40
	out := reportW11([]runOut{{fed: f}})
	require.Contains(t, out, "| 1 | 1500 | 1490 | 999 / 1000 | 0 | 0 | 64 / 0 | 0.125 | 6000 | 400 | 300 |")
	for _, name := range fedPhaseNames {
		require.Contains(t, out, "| 1 | "+name+" | ")
	}
	require.Contains(t, out, "| 7.00 / 203.00 / 20.00 |")
	require.Contains(t, out, "(40 refused)")
	require.NotContains(t, out, fedHawkKey, "the report shows the configuration without its secrets")
	require.NotContains(t, out, fedAPIKey)
	cs := fedChecks([]runOut{{fed: f}})
	require.Equal(t, 1.0, cs[0].value, "one alert lost")
	require.InDelta(t, 203.0/15, cs[1].value, 1e-9)
	require.Contains(t, cs[1].row(), "deliver_window")
}
