package web

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon/health"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// registerOnly makes v the only registered secret for the rest of the test.
func registerOnly(t *testing.T, v string) {
	t.Helper()
	secret.Default.Reset()
	secret.Register(v)
	t.Cleanup(secret.Default.Reset)
}

// TestEncodeStatusRedactsStringsOnly: a secret that is a run of digits, a JSON key or
// a JSON literal leaves the document valid and its numbers, keys, flags and times as
// they were, while every text holding it is redacted. (Redacting the encoded document
// turned "commits":912345 into 9***5 for the secret 1234.)
func TestEncodeStatusRedactsStringsOnly(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 12, 34, 0, time.UTC)
	for _, sec := range []string{"1234", "commits", "dead_letters", "true", "2026", "rate_per_s", `":{"`} {
		t.Run(sec, func(t *testing.T) {
			registerOnly(t, sec)
			st := Status{Node: "gw", Version: "1.2.3", Started: at, Now: at, State: "ok", Admin: true,
				LED:         LEDStatus{Pattern: "ok", Steps: []LEDStep{{On: true, MS: 1234}}},
				Sinks:       []SinkInfo{{Name: "hook", Delivered: 912345, Depth: 1234, Rate: 12.34, LastError: "denied " + sec}},
				Sources:     []SourceInfo{{Name: "mqtt", Received: 12341234, Error: "bad " + sec + " here"}},
				DeadLetters: []DeadInfo{{Sink: "hook", Seq: 1234, Bytes: 51234, Reason: sec, At: at}},
				Errors:      []ErrorInfo{{Time: at, Kind: "retried", Component: "sink:hook", Reason: "x" + sec, Count: 1234}},
				Store:       StoreInfo{Commits: 912345, BytesWritten: 1234, LiveBytes: 2026},
			}
			b := encodeStatus(&st)
			var got Status
			require.NoError(t, json.Unmarshal(b, &got), "valid JSON: %s", b)
			require.Equal(t, uint64(912345), got.Store.Commits)
			require.Equal(t, uint64(1234), got.Store.BytesWritten)
			require.Equal(t, int64(2026), got.Store.LiveBytes)
			require.Equal(t, uint64(912345), got.Sinks[0].Delivered)
			require.Equal(t, int64(1234), got.Sinks[0].Depth)
			require.InDelta(t, 12.34, got.Sinks[0].Rate, 1e-9)
			require.Equal(t, uint64(12341234), got.Sources[0].Received)
			require.Equal(t, uint64(1234), got.DeadLetters[0].Seq)
			require.Equal(t, 51234, got.DeadLetters[0].Bytes)
			require.Equal(t, 1234, got.Errors[0].Count)
			require.Equal(t, int64(1234), got.LED.Steps[0].MS)
			require.True(t, got.Admin)
			require.True(t, got.Started.Equal(at) && got.DeadLetters[0].At.Equal(at) && got.Errors[0].Time.Equal(at), "times kept")
			var keys map[string]any
			require.NoError(t, json.Unmarshal(b, &keys))
			for _, k := range []string{"commits", "dead_letters", "store", "sinks"} {
				if k != "commits" {
					require.Contains(t, keys, k, "key %s kept", k)
				}
			}
			require.Contains(t, keys["store"], "commits", "key commits kept")
			for _, text := range []string{got.Sinks[0].LastError, got.Sources[0].Error, got.DeadLetters[0].Reason, got.Errors[0].Reason} {
				require.NotContains(t, text, sec)
				require.Contains(t, text, "***")
			}
			require.Equal(t, "denied "+sec, st.Sinks[0].LastError, "the provider's document is not changed")
		})
	}
}

// TestStatusRedactsEveryString: every string field of Status, at any depth, is
// redacted by encodeStatus, so that a field added later cannot carry daemon or peer
// text out unredacted. Each one is set to a text holding a secret by reflection.
func TestStatusRedactsEveryString(t *testing.T) {
	const sec = "a-secret-of-the-test"
	registerOnly(t, sec)
	var st Status
	n := fill(reflect.ValueOf(&st).Elem(), "text "+sec+" text")
	require.Greater(t, n, 20, "the strings of Status")
	b := encodeStatus(&st)
	require.NotContains(t, string(b), sec, "%s", b)
	r := st.redacted()
	var leaks []string
	walk(reflect.ValueOf(r), "Status", func(path, s string) {
		if strings.Contains(s, sec) {
			leaks = append(leaks, path)
		}
	})
	require.Empty(t, leaks, "string fields redacted() leaves out")
}

// fill sets every string in v (through structs and slices, which get one element) to
// s and returns how many it set.
func fill(v reflect.Value, s string) int {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
		return 1
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return 0
		}
		n := 0
		for i := range v.NumField() {
			n += fill(v.Field(i), s)
		}
		return n
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		return fill(v.Index(0), s)
	}
	return 0
}

// walk calls fn for every string in v with its path.
func walk(v reflect.Value, path string, fn func(path, s string)) {
	switch v.Kind() {
	case reflect.String:
		fn(path, v.String())
	case reflect.Struct:
		for i := range v.NumField() {
			walk(v.Field(i), path+"."+v.Type().Field(i).Name, fn)
		}
	case reflect.Slice:
		for i := range v.Len() {
			walk(v.Index(i), path+"[]", fn)
		}
	}
}

// TestSameOrigin: an Origin matches the request's scheme (https over TLS, else http),
// host and port, a default port named or left out on either side.
func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		host, origin string
		tls, ok      bool
	}{
		{host: "gw:8977", origin: "http://gw:8977", ok: true},
		{host: "gw:8977", origin: "http://GW:8977", ok: true},
		{host: "gw:8977", origin: "https://gw:8977"},
		{host: "gw:8977", origin: "https://gw:8977", tls: true, ok: true},
		{host: "gw:8977", origin: "http://gw:8977", tls: true},
		{host: "gw:8977", origin: "http://gw:8978"},
		{host: "gw:8977", origin: "http://gw"},
		{host: "gw", origin: "http://gw:80", ok: true},
		{host: "gw:80", origin: "http://gw", ok: true},
		{host: "gw", origin: "https://gw:443", tls: true, ok: true},
		{host: "gw:443", origin: "https://gw", tls: true, ok: true},
		{host: "gw", origin: "http://gw:443"},
		{host: "[::1]:8977", origin: "http://[::1]:8977", ok: true},
		{host: "gw:8977", origin: "ftp://gw:8977"},
		{host: "gw:8977", origin: "gw:8977"},
	} {
		r := httptest.NewRequest("POST", "/api/dead-letters/retry", nil)
		r.Host = tc.host
		r.Header.Set("Origin", tc.origin)
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		} else {
			r.TLS = nil
		}
		ok, why := sameOrigin(r)
		require.Equal(t, tc.ok, ok, "Host %s, Origin %s, TLS %v: %s", tc.host, tc.origin, tc.tls, why)
	}
}

// TestAdminRateLimitAtOnce: wrong tokens sent all at once get no more tries than
// AdminBurst: the budget's check and its spending are one step, so that no request
// passes the check before another one spends the last try.
func TestAdminRateLimitAtOnce(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	s := New(Config{AdminToken: testToken}, health.New(nil), metrics.NewSet(), discard())
	s.admin.now = func() time.Time { return now } // never refills
	s.SetStatus(&pageSource{})
	const n = 64
	codes := make(chan int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec := httptest.NewRecorder()
			r := localReq("POST", "/api/dead-letters/retry", strings.NewReader(`{"sink":"hook","all":true}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", fmt.Sprintf("Bearer guess-%03d-xxxxxxxxxxxxxx", i))
			s.Handler().ServeHTTP(rec, r)
			codes <- rec.Code
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	by := map[int]int{}
	for c := range codes {
		by[c]++
	}
	require.Equal(t, map[int]int{401: AdminBurst, 429: n - AdminBurst}, by)
}
