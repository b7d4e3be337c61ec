package ingest

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/internal/serving"
)

// SourceType is the registered source type of the HTTP ingest.
const SourceType = "ilert_http"

// Config configures the ilert_http source: ilagent's local proxy API mounted on the
// daemon's HTTP server (http.listen), or served on a listener of its own with listen
// and tls.
type Config struct {
	// ListenerConfig is `listen:` and `tls:`: empty means the API is mounted on the
	// daemon's HTTP server; an address gives the source a listener of its own, with
	// optional TLS and client certificates, that serves the API and nothing else.
	adapters.ListenerConfig `yaml:",inline"`
	// Token, when set, is required as "Authorization: Bearer <token>" on every request
	// to the API. Empty means no authentication (ilagent has none).
	Token httpc.Secret `yaml:"token"`
	// MaxBodyBytes bounds the body of POST /api/events. Zero means 16000 (ilagent's
	// limit).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// PublishTimeout bounds how long a request waits for the event to be durable.
	// Zero means 10s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: DefaultMaxBodyBytes, PublishTimeout: DefaultPublishTimeout}
}

// Validate reports every problem at once, each naming its YAML key.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("max_body_bytes: must be between 1 and %d, got %d", 16<<20, c.MaxBodyBytes))
	}
	if c.PublishTimeout < 0 {
		errs = append(errs, fmt.Errorf("publish_timeout: must not be negative, got %s", c.PublishTimeout))
	}
	if strings.ContainsAny(string(c.Token), " \t\r\n") {
		errs = append(errs, errors.New("token: must not contain spaces or line breaks"))
	}
	errs = append(errs, c.ListenerConfig.Validate())
	return errors.Join(errs...)
}

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterSource(SourceType, adapters.SourceSpec[Config]{
		Summary:  "ilagent's HTTP proxy API: POST /api/events, GET /api/heartbeats/{key} on the daemon's HTTP server or its own (TLS) listener",
		Sample:   sample,
		Defaults: DefaultConfig,
		New: func(cfg Config, d adapters.Deps) (adapters.Source, error) {
			return NewSource(cfg, d)
		},
	})
}

// Source serves the API while Run runs; outside Run every request is answered 503.
type Source struct {
	d   adapters.Deps
	h   *Handler
	run serving.Slot // the publisher of the current Run
}

// errNotRunning answers requests that arrive while the source is not running.
var errNotRunning = fmt.Errorf("ilert_http source is not running: %w", adapters.ErrNotConnected)

// NewSource mounts the API on the daemon's HTTP server, or with cfg.Listen on a
// listener of its own. It fails when the daemon gives no server or listener, or when
// another source already serves the paths there.
func NewSource(cfg Config, d adapters.Deps) (*Source, error) {
	mnt, where := d.HTTP, "the daemon's HTTP server (http.listen)"
	if cfg.Own() {
		if d.Listen == nil {
			return nil, errors.New("ilert_http: listen is set, but the daemon gives no listeners of their own")
		}
		m, err := d.Listen(cfg.ListenerConfig)
		if err != nil {
			return nil, fmt.Errorf("ilert_http: %w", err)
		}
		mnt, where = m, "its listener "+cfg.Listen
	}
	if mnt == nil {
		return nil, errors.New("ilert_http: the daemon's HTTP server is needed (http.listen)")
	}
	if d.Health == nil {
		d.Health = adapters.NopHealth{}
	}
	s := &Source{d: d}
	s.h = New(Options{
		MaxBodyBytes: cfg.MaxBodyBytes, Token: cfg.Token.Reveal(), Source: d.Name,
		PublishTimeout: cfg.PublishTimeout, Log: d.Log, Limiter: d.Limiter, Reject: d.Reject, Now: d.Now,
	}, adapters.PublisherFunc(s.publish))
	for _, p := range []string{PathEvents, PathHeartbeats} {
		if err := mnt.Mount(p, s.h); err != nil {
			return nil, fmt.Errorf("ilert_http: %w (only one ilert_http source can be served on %s; give the others a listen address)", err, where)
		}
	}
	serving.NotStarted(d.Health)
	return s, nil
}

// Handler returns the API handler, for tests.
func (s *Source) Handler() *Handler { return s.h }

func (s *Source) publish(ctx context.Context, e *adapters.Event, done func(adapters.Settlement)) error {
	pub := s.run.Publisher()
	if pub == nil {
		return errNotRunning
	}
	return pub.Publish(ctx, e, done)
}

// Run serves requests with pub until ctx ends, then returns nil.
func (s *Source) Run(ctx context.Context, pub adapters.Publisher) error {
	return s.run.Run(ctx, pub, s.d.Health)
}
