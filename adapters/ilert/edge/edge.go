// Package edge is the ilert_edge source: ilagent's edge connector. It polls ilert's
// GET /api/edge-connections/events for the alert lifecycle events of one edge
// connector key and publishes each item as one event, so that a site whose systems
// cannot be reached from the internet gets them through any sink (webhook, stdout,
// kafka, mqtt, script). See README.md for the polling rules, the cursor and the HA
// mode.
package edge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// SourceType is the registered source type.
const SourceType = "ilert_edge"

// Polling rules (ilagent's, §9 of its behaviour).
const (
	// Limit is the page size of every poll.
	Limit = 100
	// MaxRepolls is how many full batches in a row are followed by an immediate poll
	// before one poll interval is waited.
	MaxRepolls = 10
	// BackoffStart and BackoffMax bound the wait after a failed poll: 5 s doubling
	// up to 300 s.
	BackoffStart = 5 * time.Second
	BackoffMax   = 300 * time.Second
	// MaxAnswerBytes bounds the poll answer read.
	MaxAnswerBytes = 16 << 20
	// Path is the poll endpoint.
	Path = "/api/edge-connections/events"
)

// Health conditions the source sets.
const (
	// CondAuth is critical while ilert refuses the key (401, 403).
	CondAuth = "auth"
	// CondPoll is degraded while polls fail for any other reason.
	CondPoll = "poll"
)

// State names.
const (
	// stateInstance keeps the generated instance id.
	stateInstance = "instance_id"
	// cursorPrefix starts the cursor's name; the rest is the first 16 hex digits of
	// the SHA-256 of the key (ilagent's edge_cursor:<hash>; ':' is not allowed in a
	// state name).
	cursorPrefix = "edge_cursor_"
)

// errAuth is the error of a 401 or 403 answer.
var errAuth = errors.New("authentication failed — check the edge connector key")

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterSource(SourceType, adapters.SourceSpec[Config]{
		Summary:  "ilert edge connector: polls GET /api/edge-connections/events for an edge key's alert events (cursor in the store, or server-managed HA)",
		Sample:   sample,
		Defaults: DefaultConfig,
		New: func(cfg Config, d adapters.Deps) (adapters.Source, error) {
			return NewSource(cfg, d)
		},
	})
}

// Source polls the edge endpoint while Run runs.
type Source struct {
	cfg      Config
	d        adapters.Deps
	log      *slog.Logger
	clk      clock.Clock
	base     string // api_host without a trailing slash
	key      string
	cursorAt string // the cursor's state name
	instance string // HA instance id
	client   *http.Client

	mu     sync.Mutex // guards the fields below
	conds  map[string]bool
	role   string
	warned bool // a Stored settlement in HA mode was warned about
}

// NewSource builds the source: it resolves the key (registering it as a secret) and,
// in HA mode, the instance id. It does not poll.
func NewSource(cfg Config, d adapters.Deps) (*Source, error) {
	base, err := parseHost(cfg.APIHost)
	if err != nil {
		return nil, fmt.Errorf("ilert_edge: api_host: %w", err)
	}
	key, err := cfg.resolveKey()
	if err != nil {
		return nil, fmt.Errorf("ilert_edge: %w", err)
	}
	secret.Register(key)
	if d.Health == nil {
		d.Health = adapters.NopHealth{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultInterval
	}
	if cfg.StandbyInterval <= 0 {
		cfg.StandbyInterval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	sum := sha256.Sum256([]byte(key))
	s := &Source{
		cfg: cfg, d: d, log: d.Log, clk: clock.Or(d.Clock), base: base, key: key,
		cursorAt: cursorPrefix + hex.EncodeToString(sum[:])[:16],
		conds:    map[string]bool{},
	}
	// The project's client: no redirects followed (the raw key travels in
	// Authorization), the proxy from the environment, api_host's TLS settings.
	if s.client, err = httpc.NewClient(cfg.Timeout, cfg.TLS); err != nil {
		return nil, err
	}
	if cfg.HA() {
		if s.instance, err = s.instanceID(); err != nil {
			return nil, fmt.Errorf("ilert_edge: instance_id: %w", err)
		}
	}
	return s, nil
}

// instanceID returns instance_id, else the one kept in the state, else a new one
// (kept in the state when there is one).
func (s *Source) instanceID() (string, error) {
	if s.cfg.InstanceID != "" {
		return s.cfg.InstanceID, nil
	}
	if s.d.State != nil {
		if v := s.d.State.Get(stateInstance); len(v) > 0 {
			return string(v), nil
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := "edgerelay-" + hex.EncodeToString(b[:])
	if s.d.State != nil {
		if err := s.d.State.Set(stateInstance, []byte(id)); err != nil {
			return "", err
		}
	}
	return id, nil
}

// InstanceID returns the HA instance id ("" outside HA mode).
func (s *Source) InstanceID() string { return s.instance }

// CursorName returns the state name of the cursor.
func (s *Source) CursorName() string { return s.cursorAt }

// item is one item of a poll answer.
type item struct {
	ID      *int64          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// answer is a poll answer.
type answer struct {
	Items []item `json:"items"`
	Role  string `json:"role"`
}

// Run polls until ctx ends, then returns nil.
func (s *Source) Run(ctx context.Context, pub adapters.Publisher) error {
	var cursor int64 // non-HA: after-id; HA: last-processed-id, empty after each start
	if !s.cfg.HA() {
		cursor = s.loadCursor()
	}
	s.log.Info("polling ilert edge events", "api_host", s.base, "cursor", cursor, "ha", s.cfg.HA(),
		"cluster_id", s.cfg.ClusterID, "instance_id", s.instance)
	var (
		failures int
		repolls  int
		refusals int        // batches in a row that stopped at a refused item
		flush    chan error // the cursor flush of the last batch, while it runs
	)
	for {
		a, err := s.poll(ctx, cursor)
		if flush != nil { // the previous batch's cursor is durable before more is published
			select {
			case ferr := <-flush:
				if ferr != nil && ctx.Err() == nil {
					s.d.Limiter.Warn(s.log, "edge:flush", "cursor not yet durable", "err", ferr)
				}
			case <-ctx.Done():
			}
			flush = nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			wait := min(BackoffStart<<min(failures-1, 16), BackoffMax)
			if d, ok := adapters.RetryDelay(err); ok && d > wait {
				wait = min(d, BackoffMax)
			}
			s.fail(err, failures, wait)
			if !clock.Sleep(ctx, s.clk, wait) {
				return nil
			}
			continue
		}
		if failures > 0 {
			s.log.Info("edge poll recovered", "failures", failures)
		}
		failures = 0
		s.ok()
		if s.cfg.HA() {
			if a.Role == "standby" {
				s.setRole(adapters.RoleStandby, "another instance of cluster "+s.cfg.ClusterID+" leads")
				repolls = 0
				if !clock.Sleep(ctx, s.clk, s.cfg.StandbyInterval) {
					return nil
				}
				continue
			}
			s.setRole(adapters.RoleActive, "leader of cluster "+s.cfg.ClusterID)
		}
		last, stop := s.publish(ctx, pub, a.Items, cursor)
		if last > cursor {
			cursor = last
			if !s.cfg.HA() {
				flush = s.saveCursor(ctx, cursor)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := s.cfg.PollInterval
		switch {
		case stop != nil:
			// An item was refused (in HA mode: its delivery failed): it is polled
			// again after a backoff, one poll interval doubling up to 300 s, not
			// every interval for ever as ilagent does.
			refusals++
			wait = max(wait, min(s.cfg.PollInterval<<min(refusals-1, 16), BackoffMax))
		case len(a.Items) >= Limit:
			refusals = 0
			if repolls++; repolls < MaxRepolls {
				continue
			}
		default:
			refusals = 0
		}
		repolls = 0
		if !clock.Sleep(ctx, s.clk, wait) {
			return nil
		}
	}
}

// loadCursor reads the cursor from the state; 0 when there is none or it is bad.
func (s *Source) loadCursor() int64 {
	if s.d.State == nil {
		return 0
	}
	v := s.d.State.Get(s.cursorAt)
	if len(v) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		s.log.Warn("edge cursor unreadable; starting from the oldest item ilert keeps", "value", string(v))
		return 0
	}
	return n
}

// saveCursor sets the cursor and starts a flush; the channel receives its result.
// Nil when there is no state.
func (s *Source) saveCursor(ctx context.Context, cursor int64) chan error {
	if s.d.State == nil {
		return nil
	}
	if err := s.d.State.Set(s.cursorAt, strconv.AppendInt(nil, cursor, 10)); err != nil {
		if ctx.Err() == nil {
			s.d.Limiter.Warn(s.log, "edge:cursor", "edge cursor not saved; the items after the saved one will be polled again", "err", err)
		}
		return nil
	}
	ch := make(chan error, 1)
	go func() { ch <- s.d.State.Flush(ctx) }()
	return ch
}

// poll makes one poll with cursor: after-id, or in HA mode last-processed-id.
func (s *Source) poll(ctx context.Context, cursor int64) (answer, error) {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(Limit))
	if s.cfg.HA() {
		q.Set("cluster-id", s.cfg.ClusterID)
		q.Set("instance-id", s.instance)
		if cursor > 0 {
			q.Set("last-processed-id", strconv.FormatInt(cursor, 10))
		}
	} else {
		q.Set("after-id", strconv.FormatInt(cursor, 10))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+Path+"?"+q.Encode(), nil)
	if err != nil {
		return answer{}, secret.Scrub(err, s.key)
	}
	req.Header.Set("Authorization", s.key)
	req.Header.Set("User-Agent", "edgerelay/"+s.d.Version)
	req.Header.Set("Accept", "application/json")
	// Do classifies the answer (a Retry-After becomes the error's hint) and gives
	// at most MaxAnswerBytes+1 bytes of the body; its errors carry an excerpt of the
	// body, redacted, and are scrubbed of the key once more.
	_, body, err := httpc.Do(s.client, req, MaxAnswerBytes+1)
	var se *httpc.StatusError
	switch {
	case errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden):
		return answer{}, fmt.Errorf("poll returned status %d: %w", se.StatusCode, errAuth)
	case err != nil:
		return answer{}, secret.Scrub(fmt.Errorf("poll: %w", err), s.key)
	case len(body) > MaxAnswerBytes:
		return answer{}, fmt.Errorf("poll: the answer is larger than %d bytes", MaxAnswerBytes)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return answer{}, fmt.Errorf("poll: the answer is not the expected JSON: %s", secret.Redact(err.Error()))
	}
	for i, it := range a.Items {
		if it.ID == nil {
			return answer{}, fmt.Errorf("poll: item %d of the answer has no id", i)
		}
		if len(it.Payload) == 0 {
			a.Items[i].Payload = json.RawMessage("null")
		}
	}
	return a, nil
}

// settled is one item's settlement.
type settled struct {
	i int
	s adapters.Settlement
}

// publish publishes the items after cursor in order and waits until each settled.
// It returns the id of the last item of the longest prefix that settled OK (in HA
// mode: delivered or dead-lettered), or cursor when there is none, and the error of
// the first item that did not (nil when all did).
func (s *Source) publish(ctx context.Context, pub adapters.Publisher, items []item, cursor int64) (int64, error) {
	ch := make(chan settled, len(items))
	ids := make([]int64, 0, len(items))
	now := s.clk.Now()
	var perr error
	last := cursor
	for _, it := range items {
		id := *it.ID
		if id <= cursor || (len(ids) > 0 && id <= ids[len(ids)-1]) {
			s.d.Limiter.Warn(s.log, "edge:order", "edge item id not above the cursor; skipped as already processed", "item_id", id, "cursor", cursor)
			continue
		}
		i := len(ids)
		e := newEvent(s.d.Name, id, it.Payload, now)
		if err := pub.Publish(ctx, e, func(st adapters.Settlement) { ch <- settled{i, st} }); err != nil {
			perr = err
			break
		}
		ids = append(ids, id)
		if s.cfg.HA() {
			// Acknowledging on delivery, nothing is stored: an item refused (its
			// delivery failed) must not be overtaken by a later item of its alert, and
			// the items after it are polled again anyway. So one at a time, as
			// ilagent delivers, and the batch stops at the first refusal.
			var r settled
			select {
			case r = <-ch:
			case <-ctx.Done():
				return cursor, ctx.Err()
			}
			if err := s.accepted(r.s); err != nil {
				s.d.Limiter.Warn(s.log, "edge:refused", "edge item not delivered; it is polled again", "item_id", id, "err", err)
				return last, err
			}
			last = id
			continue
		}
	}
	if s.cfg.HA() {
		return last, perr
	}
	got := make([]adapters.Settlement, len(ids))
	for n := 0; n < len(ids); n++ {
		select {
		case r := <-ch:
			got[r.i] = r.s
		case <-ctx.Done():
			n = len(ids) // use what settled
		}
	}
	for i, st := range got {
		if err := s.accepted(st); err != nil {
			s.d.Limiter.Warn(s.log, "edge:refused", "edge item not accepted; it is polled again", "item_id", ids[i], "err", err)
			return last, err
		}
		last = ids[i]
	}
	return last, perr
}

// accepted returns nil when st lets the cursor move past its item: any OK outcome,
// and in HA mode (where the daemon makes the source unbuffered) delivered,
// dead-lettered or dropped.
func (s *Source) accepted(st adapters.Settlement) error {
	if st.Outcome == 0 {
		return adapters.ErrNoOutcome
	}
	if !st.OK() {
		if st.Err == nil {
			return adapters.ErrNoOutcome
		}
		return st.Err
	}
	if s.cfg.HA() && st.Outcome == adapters.Stored {
		s.mu.Lock()
		warn := !s.warned
		s.warned = true
		s.mu.Unlock()
		if warn {
			s.log.Warn("edge item only stored in HA mode: the daemon should have made this source ack: delivered; counting it as processed")
		}
	}
	return nil
}

// fail reports a failed poll.
func (s *Source) fail(err error, failures int, wait time.Duration) {
	// One condition holds the latest failure: a 401 after network errors is an
	// authentication failure now, and network errors after a 401 say nothing of the
	// key any more.
	if errors.Is(err, errAuth) {
		s.setCond(CondPoll, true, false, "")
		s.setCond(CondAuth, false, true, errAuth.Error())
	} else {
		s.setCond(CondAuth, true, true, "")
		s.setCond(CondPoll, false, false, err.Error())
	}
	s.d.Limiter.Warn(s.log, "edge:poll", "edge poll failed", "err", err, "failures", failures, "retry_in", wait)
}

// ok clears the failure conditions after a successful poll.
func (s *Source) ok() {
	s.setCond(CondAuth, true, true, "")
	s.setCond(CondPoll, true, false, "")
}

// setCond sets a condition when it changes (detail changes count for failures).
func (s *Source) setCond(name string, ok, critical bool, detail string) {
	s.mu.Lock()
	was, known := s.conds[name]
	s.conds[name] = ok
	s.mu.Unlock()
	if known && was == ok && ok {
		return
	}
	if !known && ok {
		return // nothing to clear
	}
	if critical {
		s.d.Health.Set(name, ok, detail)
	} else {
		s.d.Health.SetDegraded(name, ok, detail)
	}
}

// setRole reports an HA role change.
func (s *Source) setRole(role, reason string) {
	s.mu.Lock()
	changed := s.role != role
	s.role = role
	s.mu.Unlock()
	if !changed {
		return
	}
	s.log.Info("edge HA role", "role", role, "reason", reason, "cluster_id", s.cfg.ClusterID, "instance_id", s.instance)
	if s.d.Role != nil {
		s.d.Role(role, reason)
	}
}

// Role returns the current HA role ("" before the first poll or outside HA mode).
func (s *Source) Role() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.role
}
