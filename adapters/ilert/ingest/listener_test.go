package ingest_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/ilert/ingest"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles/tlsfilestest"
)

// TestSourceOwnListener checks that with listen the source asks the daemon for a
// listener of its own and mounts there, not on the daemon's server. (The listener
// itself, TLS included, is tested in daemon/web and end to end in daemon.)
func TestSourceOwnListener(t *testing.T) {
	shared, own := adaptertest.NewMux(), adaptertest.NewMux()
	var asked []adapters.ListenerConfig
	d := adapters.Deps{Name: "proxy", HTTP: shared, Listen: func(c adapters.ListenerConfig) (adapters.Mounter, error) {
		asked = append(asked, c)
		return own, nil
	}}
	cfg := ingest.DefaultConfig()
	cfg.Listen = "0.0.0.0:8443"
	_, err := ingest.NewSource(cfg, d)
	require.NoError(t, err)
	require.Equal(t, []adapters.ListenerConfig{{Listen: "0.0.0.0:8443"}}, asked)
	_, pattern := own.Handler(mustRequest(t, "POST", ingest.PathEvents))
	require.Equal(t, ingest.PathEvents, pattern)
	_, pattern = shared.Handler(mustRequest(t, "POST", ingest.PathEvents))
	require.Empty(t, pattern, "nothing mounted on the daemon's server")

	// A second source with a listen address of its own is fine; without one it takes
	// the daemon's server.
	cfg.Listen = "0.0.0.0:8444"
	own = adaptertest.NewMux()
	_, err = ingest.NewSource(cfg, d)
	require.NoError(t, err)
	_, err = ingest.NewSource(ingest.DefaultConfig(), d)
	require.NoError(t, err)

	d.Listen = func(adapters.ListenerConfig) (adapters.Mounter, error) {
		return nil, errors.New("listen: address in use")
	}
	_, err = ingest.NewSource(cfg, d)
	require.ErrorContains(t, err, "address in use")
	d.Listen = nil
	_, err = ingest.NewSource(cfg, d)
	require.ErrorContains(t, err, "no listeners")
}

func mustRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, "http://x"+path, nil)
	require.NoError(t, err)
	return r
}

func TestConfigListenAndTLS(t *testing.T) {
	ca := tlsfilestest.NewCA(t, "ca")
	l := ca.Issue(t, "server", true)
	dir := t.TempDir()
	files := tlsfiles.ServerConfig{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}
	tlsfilestest.WriteAtomic(t, files.CertFile, l.CertPEM)
	tlsfilestest.WriteAtomic(t, files.KeyFile, l.KeyPEM)
	tests := []struct {
		name    string
		lc      adapters.ListenerConfig
		wantErr string
	}{
		{"unset", adapters.ListenerConfig{}, ""},
		{"plain", adapters.ListenerConfig{Listen: ":8443"}, ""},
		{"tls", adapters.ListenerConfig{Listen: ":8443", TLS: files}, ""},
		{"tls without listen", adapters.ListenerConfig{TLS: files}, "tls: needs listen"},
		{"bad listen", adapters.ListenerConfig{Listen: "8443"}, "listen:"},
		{"missing key", adapters.ListenerConfig{Listen: ":8443", TLS: tlsfiles.ServerConfig{CertFile: files.CertFile, KeyFile: filepath.Join(dir, "none")}}, "tls.key_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ingest.DefaultConfig()
			c.ListenerConfig = tc.lc
			err := c.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
