package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/buildinfo"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/ilagent"
)

func TestOneShot(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string       // extra environment
		fail     func(*ilerttest.Server) // injected faults
		code     int                     // exit code
		inStderr []string                // substrings of stderr
		check    func(*testing.T, []ilerttest.Request)
		hbHost   bool // point ILERT_HEARTBEAT_HOST at a second fake
	}{
		{
			name: "accepted event",
			args: []string{"event", "-k", "il1api0123456789", "-t", "ALERT", "-s", "Pump 3 pressure low",
				"-i", "pump3", "-o", "HIGH", "-d", "below 2 bar", "-g", "https://img/x.png", "-l", "https://site/pump3"},
			code: exitOK,
			check: func(t *testing.T, reqs []ilerttest.Request) {
				require.Len(t, reqs, 1)
				r := reqs[0]
				require.Equal(t, http.MethodPost, r.Method)
				require.Equal(t, "/api/events", r.Path)
				require.Equal(t, "edgerelay/"+buildinfo.Version, r.Header.Get("User-Agent"))
				require.Equal(t, http.StatusAccepted, r.Status)
				require.JSONEq(t, `{
					"integrationKey": "il1api0123456789", "eventType": "ALERT", "summary": "Pump 3 pressure low",
					"details": "below 2 bar", "alertKey": "pump3", "priority": "HIGH",
					"images": [{"src": "https://img/x.png", "href": null, "alt": null}],
					"links": [{"href": "https://site/pump3", "text": "Provided Url"}],
					"customDetails": null}`, string(r.Body))
			},
		},
		{
			name: "minimal event has nulls, global flags after the subcommand",
			args: []string{"event", "-v", "-k", "il1api0123456789", "-t", "RESOLVE", "-s", "ok", "-f", "/nonexistent/x.db3"},
			code: exitOK,
			check: func(t *testing.T, reqs []ilerttest.Request) {
				require.Len(t, reqs, 1)
				require.JSONEq(t, `{"integrationKey": "il1api0123456789", "eventType": "RESOLVE", "summary": "ok",
					"details": null, "alertKey": null, "priority": null, "images": null, "links": null,
					"customDetails": null}`, string(reqs[0].Body))
			},
		},
		{
			name: "integration key from the environment",
			args: []string{"event", "-t", "ACCEPT", "-s", "seen"},
			env:  map[string]string{ilagent.EnvIntegrationKey: "il1api-from-env"},
			code: exitOK,
			check: func(t *testing.T, reqs []ilerttest.Request) {
				require.Len(t, reqs, 1)
				var m map[string]any
				require.NoError(t, json.Unmarshal(reqs[0].Body, &m))
				require.Equal(t, "il1api-from-env", m["integrationKey"])
				require.Equal(t, "ACCEPT", m["eventType"])
			},
		},
		{
			name:     "rejected event exits 1",
			args:     []string{"event", "-k", "il1api0123456789", "-t", "ALERT", "-s", "x"},
			fail:     func(s *ilerttest.Server) { s.FailNext("/api/events", 1, http.StatusBadRequest) },
			code:     exitError,
			inStderr: []string{"ilert did not accept the event", "400", "injected failure"},
			check:    func(t *testing.T, reqs []ilerttest.Request) { require.Len(t, reqs, 1) },
		},
		{
			name:     "503 exits 1 after one attempt",
			args:     []string{"event", "-k", "il1api0123456789", "-t", "ALERT", "-s", "x"},
			fail:     func(s *ilerttest.Server) { s.FailNext("/api/events", 5, http.StatusServiceUnavailable) },
			code:     exitError,
			inStderr: []string{"ilert did not accept the event", "503"},
			check:    func(t *testing.T, reqs []ilerttest.Request) { require.Len(t, reqs, 1) },
		},
		{
			name:     "dropped connection exits 1",
			args:     []string{"event", "-k", "il1api0123456789", "-t", "ALERT", "-s", "x"},
			fail:     func(s *ilerttest.Server) { s.DropNext("/api/events", 1) },
			code:     exitError,
			inStderr: []string{"ilert did not accept the event"},
		},
		{
			name:     "missing integration key exits 2",
			args:     []string{"event", "-t", "ALERT", "-s", "x"},
			code:     exitUsage,
			inStderr: []string{"Integration key is required: provide --integration_key or set ILERT_INTEGRATION_KEY env var"},
			check:    func(t *testing.T, reqs []ilerttest.Request) { require.Empty(t, reqs) },
		},
		{
			name:     "missing summary exits 2",
			args:     []string{"event", "-k", "k", "-t", "ALERT"},
			code:     exitUsage,
			inStderr: []string{"the following required arguments were not provided", "--summary <SUMMARY>"},
			check:    func(t *testing.T, reqs []ilerttest.Request) { require.Empty(t, reqs) },
		},
		{
			name:     "bad priority exits 2",
			args:     []string{"event", "-k", "k", "-t", "ALERT", "-s", "x", "-o", "MEDIUM"},
			code:     exitUsage,
			inStderr: []string{"invalid value 'MEDIUM' for '--priority <PRIORITY>'"},
		},
		{
			name:     "unknown flag exits 2",
			args:     []string{"event", "--nope"},
			code:     exitUsage,
			inStderr: []string{"unknown flag: --nope"},
		},
		{
			name: "legacy heartbeat is a GET on the api host",
			args: []string{"heartbeat", "-k", "il1hbt0123456789"},
			code: exitOK,
			check: func(t *testing.T, reqs []ilerttest.Request) {
				require.Len(t, reqs, 1)
				require.Equal(t, http.MethodGet, reqs[0].Method)
				require.Equal(t, "/api/heartbeats/il1hbt0123456789", reqs[0].Path)
				require.Equal(t, "edgerelay/"+buildinfo.Version, reqs[0].Header.Get("User-Agent"))
			},
		},
		{
			name:   "new-style heartbeat is a HEAD on the heartbeat host",
			args:   []string{"heartbeat", "-k", "hbt-new-0123456789"},
			code:   exitOK,
			hbHost: true,
			check: func(t *testing.T, reqs []ilerttest.Request) {
				require.Empty(t, reqs, "nothing on the api host")
			},
		},
		{
			name: "heartbeat key from the environment",
			args: []string{"heartbeat"},
			env:  map[string]string{ilagent.EnvIntegrationKey: "il1hbt-from-env"},
			code: exitOK,
			check: func(t *testing.T, reqs []ilerttest.Request) {
				require.Len(t, reqs, 1)
				require.Equal(t, "/api/heartbeats/il1hbt-from-env", reqs[0].Path)
			},
		},
		{
			name:     "heartbeat 500 exits 1",
			args:     []string{"heartbeat", "-k", "il1hbt0123456789"},
			fail:     func(s *ilerttest.Server) { s.FailNext("/api/heartbeats/*", 1, http.StatusInternalServerError) },
			code:     exitError,
			inStderr: []string{"ilert did not accept the heartbeat", "500"},
		},
		{
			name:     "heartbeat without key exits 2",
			args:     []string{"heartbeat"},
			code:     exitUsage,
			inStderr: []string{"Integration key is required"},
		},
		{
			name:     "bad api host exits 2",
			args:     []string{"heartbeat", "-k", "il1hbt0123456789"},
			env:      map[string]string{envAPIHost: "ftp://example.com"},
			code:     exitUsage,
			inStderr: []string{"api_host", "scheme"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := ilerttest.NewServer(t)
			hb := api
			if tc.hbHost {
				hb = ilerttest.NewServer(t)
			}
			t.Setenv(ilagent.EnvIntegrationKey, "")
			t.Setenv("ILERT_API_KEY", "")
			t.Setenv(envAPIHost, api.URL())
			t.Setenv(envHeartbeatHost, hb.URL())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if tc.fail != nil {
				tc.fail(api)
			}
			code, out, errs := cli(t, tc.args...)
			require.Equal(t, tc.code, code, "stdout=%s stderr=%s", out, errs)
			for _, w := range tc.inStderr {
				require.Contains(t, errs, w)
			}
			require.NotContains(t, errs, "goroutine", "no panic trace")
			if tc.code == exitOK {
				require.Empty(t, out)
			}
			if tc.hbHost {
				beats := hb.Heartbeats()
				require.Len(t, beats, 1)
				require.False(t, beats[0].Legacy)
				require.Equal(t, "hbt-new-0123456789", beats[0].Key)
				reqs := hb.Requests()
				require.Len(t, reqs, 1)
				require.Equal(t, http.MethodHead, reqs[0].Method)
				require.Equal(t, "/api/pings/hbt-new-0123456789", reqs[0].Path)
			}
			if tc.check != nil {
				tc.check(t, api.Requests())
			}
		})
	}
}

func TestOneShotErrorHidesKey(t *testing.T) {
	api := ilerttest.NewServer(t)
	t.Setenv(envAPIHost, api.URL())
	t.Setenv(envHeartbeatHost, api.URL())
	t.Setenv("ILERT_API_KEY", "")
	api.FailNext("*", 1, http.StatusNotFound)
	code, _, errs := cli(t, "heartbeat", "-k", "il1hbt-secret-0123456789")
	require.Equal(t, exitError, code)
	require.Contains(t, errs, "404")
	require.NotContains(t, errs, "il1hbt-secret-0123456789")
}

func TestOneShotHelp(t *testing.T) {
	for _, args := range [][]string{{"event", "--help"}, {"help", "event"}, {"heartbeat", "-h"}} {
		code, out, errs := cli(t, args...)
		require.Equal(t, exitOK, code, "args=%v stderr=%s", args, errs)
		require.Contains(t, out, envAPIHost)
		require.Contains(t, out, envHeartbeatHost)
		require.True(t, strings.Contains(out, "--integration_key"), out)
	}
	code, out, _ := cli(t, "event", "-V")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, buildinfo.Version)
}
