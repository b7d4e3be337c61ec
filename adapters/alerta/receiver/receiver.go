// Package receiver is the alerta source: the part of Alerta 9.1's API that the
// federation uses (spec alerta-federation.md §5.3), served under the path of the
// node's base_url for forwarding Alerta servers, Alerta's command-line client and
// other edgerelay gateways. Alerts, actions, deletes and heartbeats are validated
// as Alerta validates them, applied to an alerta.Book persisted in the source's
// table "alerts", and published as the federation's events (package alerta's
// conventions); a request is answered only once its event is settled and the
// alert's record durable, so an answered alert is never lost.
//
// Authentication follows Alerta's order (API key, Hawk, Bearer, Basic) without its
// leaks: no answer carries a credential or the MAC a Hawk request should have had,
// and Hawk nonces cannot be replayed. Loop prevention is the strict element match of
// alerta.LoopHas, answered as Alerta answers. See README.md.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/internal/serving"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// TableName is the name of the source's persisted table of alerts.
const TableName = "alerts"

// Source serves the API while Run runs; outside Run a request that would publish
// is answered 503.
type Source struct {
	cfg     Config
	d       adapters.Deps
	log     *slog.Logger
	now     func() time.Time
	baseURL string // cfg.BaseURL: the loop identity and the hrefs' base
	prefix  string // base_url's path: where the API is mounted
	auth    *authenticator
	env     *alerta.EnvPolicy
	h       *handler

	bookMu sync.Mutex // guards book
	book   *alerta.Book
	table  adapters.Table // the alerts' records: the daemon's, or memtable's
	locks  keyLocks

	run serving.Slot // the publisher of the current Run
}

// errNotRunning refuses a publish that arrives while the source is not running.
var errNotRunning = fmt.Errorf("alerta source is not running: %w", adapters.ErrNotConnected)

// NewSource resolves the credentials, restores the alerts from the source's table
// and mounts the API on the daemon's HTTP server, or with cfg.Listen on a listener
// of its own. cfg must have passed Validate.
func NewSource(cfg Config, d adapters.Deps) (*Source, error) {
	cfg = cfg.withDefaults()
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("alerta: %w", err)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Health == nil {
		d.Health = adapters.NopHealth{}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Reject == nil {
		d.Reject = func(string) {}
	}
	registerSecrets(cfg.Auth)
	s := &Source{cfg: cfg, d: d, log: d.Log, now: d.Now, baseURL: cfg.BaseURL, prefix: base.Path}
	if s.auth, err = newAuthenticator(cfg.Auth, base, cfg.HawkHostFromRequest, d.Now); err != nil {
		return nil, fmt.Errorf("alerta: %w", err)
	}
	if s.env, err = alerta.NewEnvPolicy(cfg.Environments); err != nil {
		return nil, fmt.Errorf("alerta: environments: %w", err)
	}
	if s.table, err = openTable(d, cfg.MaxAlerts); err != nil {
		return nil, fmt.Errorf("alerta: table %s: %w", TableName, err)
	}
	s.book = alerta.NewBook(cfg.MaxAlerts)
	// The book refuses (413) an alert whose record, even without its body, would
	// not fit in the table.
	s.book.MaxStored = maxRecord
	// Bound the memory of the alerts and heartbeats in bytes, not only per item:
	// max_alerts alerts of max_body_bytes each would not fit a gateway.
	s.book.SetMaxBytes(int(cfg.MaxStateBytes))
	s.restore()
	s.h = &handler{s: s}
	mnt, where := d.HTTP, "the daemon's HTTP server (http.listen)"
	if cfg.Own() {
		if d.Listen == nil {
			return nil, errors.New("alerta: listen is set, but the daemon gives no listeners of their own")
		}
		m, err := d.Listen(cfg.ListenerConfig)
		if err != nil {
			return nil, fmt.Errorf("alerta: %w", err)
		}
		mnt, where = m, "its listener "+cfg.Listen
	}
	// Tests and one-shot commands give no server: they serve Handler themselves.
	if mnt != nil {
		for _, p := range s.h.patterns() {
			if err := mnt.Mount(p, s.h); err != nil {
				return nil, fmt.Errorf("alerta: %w (only one alerta source can be served under %s on %s; give the others another base_url path or a listen address)", err, s.prefix+"/", where)
			}
		}
	}
	serving.NotStarted(d.Health)
	return s, nil
}

// registerSecrets registers the API keys and bearer tokens of a for redaction:
// values decoded from YAML are registered already, ones set in code (tests, a
// configuration built by a command) are not. The Hawk keys and Basic passwords
// are registered by secret.Resolve in newAuthenticator.
func registerSecrets(a AuthConfig) {
	for _, k := range a.APIKeys {
		secret.Register(k.Reveal())
	}
	for _, t := range a.Bearer {
		secret.Register(t.Reveal())
	}
}

// Handler returns the API handler, for tests and for serving it elsewhere. It
// routes on the full path, base_url's path included.
func (s *Source) Handler() http.Handler { return s.h }

// Len returns the number of alerts the receiver holds.
func (s *Source) Len() int {
	s.bookMu.Lock()
	defer s.bookMu.Unlock()
	return s.book.Len()
}

// publisher returns the publisher of the current Run, nil outside Run.
func (s *Source) publisher() adapters.Publisher { return s.run.Publisher() }

// Run serves requests with pub until ctx ends, then returns nil.
func (s *Source) Run(ctx context.Context, pub adapters.Publisher) error {
	return s.run.Run(ctx, pub, s.d.Health)
}

var _ adapters.Source = (*Source)(nil)
