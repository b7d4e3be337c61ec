package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/web/webtest"
)

// TestMetricsFamiliesDocumented: every Metric* name declared in the package's
// metrics*.go files has a type and a HELP text in help.go.
func TestMetricsFamiliesDocumented(t *testing.T) {
	files, err := filepath.Glob("metrics*.go")
	require.NoError(t, err)
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		require.NoError(t, err)
		n += documented(t, f)
	}
	require.Greater(t, n, 10, "found the names")
}

// documented checks the Metric* names of f against help.go and returns how many.
func documented(t *testing.T, f *ast.File) int {
	t.Helper()
	n := 0
	ast.Inspect(f, func(x ast.Node) bool {
		vs, ok := x.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Metric") || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok {
			return true
		}
		name, err := strconv.Unquote(lit.Value)
		require.NoError(t, err)
		fam, ok := families[name]
		require.True(t, ok, "%s (%s) is not in help.go", vs.Names[0].Name, name)
		require.NotEmpty(t, fam.help, name)
		require.Contains(t, []string{"counter", "gauge", "histogram", "summary"}, fam.typ, name)
		require.Equal(t, fam.typ == "counter", strings.HasSuffix(name, "_total"), "%s: a counter's name ends in _total, only a counter's", name)
		n++
		return true
	})
	return n
}

// TestMetricsExposition scrapes /metrics with every daemon family in use and checks
// the exposition format: HELP and TYPE for every family, from help.go, and promtool.
func TestMetricsExposition(t *testing.T) {
	set := metrics.NewSet()
	m := NewMetrics(set)
	m.EventsIn("plant").Inc()
	m.EventsOut("hook").Inc()
	m.EventsRejected("plant", "too_large").Inc()
	m.Retries("hook").Inc()
	m.DeadLetters("hook").Inc()
	m.QueueDepth("hook", func() float64 { return 1 })
	m.QueueOldestAge("hook", func() float64 { return 2 })
	m.BusDropped("status").Inc()
	m.BrokerRejects("auth_failed").Inc()
	m.SourceRejects("ingest", "unauthorized").Inc()
	m.StoreLiveBytes(func() float64 { return 4096 })
	m.StoreMaxBytes(func() float64 { return 1 << 28 })
	m.StoreFull(func() float64 { return 0 })
	m.DeadLettersEvicted("hook").Inc()
	m.StoreStranded("old-hook", "outbox", 3)
	m.DeadLettersKept("hook", 2)
	set.GetOrCreateCounter(series(MetricHTTPErrors, "listener", "http", "reason", "tls_handshake")).Inc()
	set.GetOrCreateCounter(series(MetricAdminRefused, "reason", RefusedBadToken)).Inc()
	m.SourceRole("edge", "", "standby")
	m.SourceRole("edge", "standby", "active")
	m.SinkCircuit("hq", "closed")
	m.SinkCircuit("hq", "open")
	m.LifecycleStats(map[string]uint64{"edge.node.started": 1}, 2, 3, 4, true)
	m.LEDPattern([]string{"off", "heartbeat", "degraded"}, func() string { return "degraded" })
	m.ConfigReloads("ok").Inc()
	m.ConfigReloads("failed").Inc()
	m.ConfigReloaded(true, 1.7e9)
	s := New(Config{}, health.New(nil), set, discard())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	body := rec.Body.Bytes()

	types := webtest.CheckFamilies(t, body)
	for name := range families {
		if strings.HasPrefix(name, "edgerelay_") {
			require.Contains(t, types, name, "every daemon family was used")
		}
	}
	require.Equal(t, "counter", types["process_io_read_bytes_total"], "the library writes it as a gauge")
	require.Equal(t, "counter", types["go_gc_forced_total"], "renamed from go_gc_forced_count")
	require.NotContains(t, string(body), "go_cgo_calls_count")
	require.NotContains(t, string(body), "go_gc_forced_count")
	require.Contains(t, string(body), "# HELP edgerelay_broker_rejects_total Connections and packets")
	require.Contains(t, string(body), "edgerelay_led_pattern{pattern=\"degraded\"} 1\n")
	require.Contains(t, string(body), "edgerelay_led_pattern{pattern=\"heartbeat\"} 0\n")
	webtest.Promtool(t, body)
}

func TestWriteExpositionGroupsFamilies(t *testing.T) {
	raw := "# a library comment\n" +
		"edgerelay_queue_depth{sink=\"a\"} 1\n" +
		"edgerelay_events_in_total{source=\"x\"} 2\n" +
		"edgerelay_queue_depth{sink=\"b\"} 3\n" +
		"go_gc_duration_seconds{quantile=\"0\"} 0\n" +
		"go_gc_duration_seconds_sum 0\n" +
		"go_gc_duration_seconds_count 0\n" +
		"something_new 1\n"
	var b strings.Builder
	require.NoError(t, writeExposition(&b, []byte(raw)))
	want := "# HELP edgerelay_queue_depth " + families[MetricQueueDepth].help + "\n" +
		"# TYPE edgerelay_queue_depth gauge\n" +
		"edgerelay_queue_depth{sink=\"a\"} 1\n" +
		"edgerelay_queue_depth{sink=\"b\"} 3\n" +
		"# HELP edgerelay_events_in_total " + families[MetricEventsIn].help + "\n" +
		"# TYPE edgerelay_events_in_total counter\n" +
		"edgerelay_events_in_total{source=\"x\"} 2\n" +
		"# HELP go_gc_duration_seconds " + families["go_gc_duration_seconds"].help + "\n" +
		"# TYPE go_gc_duration_seconds summary\n" +
		"go_gc_duration_seconds{quantile=\"0\"} 0\n" +
		"go_gc_duration_seconds_sum 0\n" +
		"go_gc_duration_seconds_count 0\n" +
		"# HELP something_new " + undocumented + "\n" +
		"# TYPE something_new untyped\n" +
		"something_new 1\n"
	require.Equal(t, want, b.String())
}
