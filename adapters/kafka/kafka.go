// Package kafka holds the Kafka source and the Kafka sink (sink.go), both of type
// "kafka". The source consumes topics as a member of a consumer group and hands
// every message to the daemon. A partition's offset is committed only
// up to the longest run of messages, in partition order, that the daemon has settled
// without refusal (stored, delivered, dead-lettered or dropped). A message the daemon could not accept ends the group session
// without committing past it; the source backs off and rejoins, and the message is
// consumed again from the last committed offset.
package kafka

import (
	"bytes"
	"context"
	"crypto/tls"
	_ "embed"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/internal/keypath"
	"github.com/edgerelay/edgerelay/adapters/settle"
)

//go:embed sample.yaml
var sample string

func init() {
	// sarama's metrics registry starts a global ticking goroutine and costs memory
	// per broker; the relay exports its own metrics.
	metrics.UseNilMetrics = true
	adapters.RegisterSource("kafka", adapters.SourceSpec[Config]{
		Summary:  "Consume Kafka topics in a consumer group; commit each offset only once the relay holds the message.",
		Sample:   sample,
		Ready:    []string{condStarted, condSubscribed},
		Defaults: DefaultConfig,
		New: func(cfg Config, d adapters.Deps) (adapters.Source, error) {
			return NewSource(cfg, d)
		},
	})
}

var (
	_ adapters.Source             = (*Source)(nil)
	_ sarama.ConsumerGroupHandler = (*handler)(nil)
)

// Health conditions.
const (
	condStarted    = "consumer_started"
	condSubscribed = "subscribed"
)

const (
	// commitInterval is how often settled offsets are committed during a session;
	// they are committed at the session's end as well.
	commitInterval = time.Second
	// sessionQuiesce bounds how long a session's end waits for the daemon to settle
	// the messages it was already given, so that their offsets make the last commit.
	sessionQuiesce = 500 * time.Millisecond
	// dialTimeout bounds one connection attempt to a broker.
	dialTimeout = 10 * time.Second
)

// Source is the Kafka source. Build it with NewSource; Run it once at a time.
type Source struct {
	cfg Config // defaults applied
	d   adapters.Deps
	clk clock.Clock // clock.Or(d.Clock): backoff, the commit ticker, the quiesce wait
	log *slog.Logger

	errCount atomic.Uint64 // consumer errors reported by sarama, ever

	logMu   sync.Mutex // guards lastLog
	lastLog string     // text of the last error logged at WARN
}

// NewSource validates cfg and builds a source. It does not connect.
func NewSource(cfg Config, d adapters.Deps) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	clk := clock.Or(d.Clock)
	if d.Now == nil {
		d.Now = clk.Now
	}
	if d.Health == nil {
		d.Health = adapters.NopHealth{}
	}
	return &Source{cfg: cfg, d: d, clk: clk, log: d.Log.With("group_id", cfg.GroupID)}, nil
}

// warn logs err at WARN the first time its text is seen in a row, at DEBUG after.
func (s *Source) warn(msg string, err error, args ...any) {
	s.logMu.Lock()
	repeat := err.Error() == s.lastLog
	s.lastLog = err.Error()
	s.logMu.Unlock()
	args = append(args, "err", err)
	if repeat {
		s.log.Debug(msg, args...)
		return
	}
	s.log.Warn(msg, args...)
}

// Run joins the consumer group and publishes every message to pub until ctx is
// done, rejoining with backoff whenever a message was not accepted or the group
// failed. It returns nil when ctx is done, and an error only when the TLS files
// cannot be loaded.
func (s *Source) Run(ctx context.Context, pub adapters.Publisher) error {
	s.d.Health.Set(condStarted, false, "starting")
	s.d.Health.Set(condSubscribed, false, "not joined")
	defer func() {
		s.d.Health.Set(condStarted, false, "stopped")
		s.d.Health.Set(condSubscribed, false, "stopped")
	}()
	var tc *tls.Config
	if s.cfg.TLS.On() {
		var err error
		if tc, err = s.cfg.TLS.Build(); err != nil {
			s.d.Health.Set(condStarted, false, err.Error())
			return err
		}
	}

	var cg sarama.ConsumerGroup
	for failures := 0; cg == nil; failures++ {
		g, err := s.newGroup(ctx, tc)
		if ctx.Err() != nil {
			if g != nil {
				_ = g.Close()
			}
			return nil
		}
		if err != nil {
			s.d.Health.Set(condStarted, false, err.Error())
			s.warn("cannot create the consumer", err, "retry_in", adapters.ReconnectDelay(failures).Seconds())
			if !clock.Sleep(ctx, s.clk, adapters.ReconnectDelay(failures)) {
				return nil
			}
			continue
		}
		cg = g
	}
	s.d.Health.Set(condStarted, true, "")
	s.log.Info("consumer started", "brokers", s.cfg.Brokers, "topics", s.cfg.Topics)

	errsDone := make(chan struct{})
	// The error reader exits when Close closes the Errors channel.
	go func() {
		defer close(errsDone)
		for err := range cg.Errors() {
			s.errCount.Add(1)
			s.warn("consumer error", err)
		}
	}()
	s.consume(ctx, cg, pub)
	if err := cg.Close(); err != nil {
		s.log.Debug("closing the consumer", "err", err)
	}
	<-errsDone
	return nil
}

// newGroup creates the sarama client and consumer group. Connections dialled while
// it runs are aborted when ctx ends, so an unreachable broker does not hold up
// shutdown; later connections (the last commit, LeaveGroup) outlive ctx.
func (s *Source) newGroup(ctx context.Context, tc *tls.Config) (sarama.ConsumerGroup, error) {
	dialCtx, cancelDial := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancelDial)
	defer stop()
	sc := s.saramaConfig(tc, &ctxDialer{ctx: dialCtx, d: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}})
	cg, err := sarama.NewConsumerGroup(s.cfg.Brokers, s.cfg.GroupID, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to %v: %w", s.cfg.Brokers, err)
	}
	return cg, nil
}

// ctxDialer dials with a context; it is handed to sarama as its proxy dialer, the
// only dialing hook sarama offers.
type ctxDialer struct {
	ctx context.Context
	d   net.Dialer
}

// Dial implements golang.org/x/net/proxy.Dialer.
func (c *ctxDialer) Dial(network, addr string) (net.Conn, error) {
	return c.d.DialContext(c.ctx, network, addr)
}

// saramaConfig translates the source's configuration.
func (s *Source) saramaConfig(tc *tls.Config, dialer *ctxDialer) *sarama.Config {
	sc := connConfig(s.cfg.ClientID, tc, s.cfg.SASL, dialer)
	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.AutoCommit.Enable = false // only settled offsets are committed
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	if s.cfg.InitialOffset == OffsetNewest {
		sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	sc.Consumer.Group.Session.Timeout = s.cfg.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = s.cfg.SessionTimeout / 3
	// Eager rebalancing: a rebalance ends the session, whose end commits.
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	return sc
}

// connConfig returns a sarama configuration with the connection settings the source
// and the sink share: protocol version, client id, the dialer, TLS and SASL/PLAIN.
func connConfig(clientID string, tc *tls.Config, sasl SASLConfig, dialer *ctxDialer) *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.ClientID = clientID
	sc.Net.DialTimeout = dialTimeout
	sc.Net.Proxy.Enable = true
	sc.Net.Proxy.Dialer = dialer
	if tc != nil {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if sasl.Username != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		sc.Net.SASL.User = sasl.Username
		sc.Net.SASL.Password = sasl.Password.Reveal()
	}
	return sc
}

// consume runs group sessions until ctx is done.
func (s *Source) consume(ctx context.Context, cg sarama.ConsumerGroup, pub adapters.Publisher) {
	sem := make(chan struct{}, s.cfg.MaxInflight) // a slot per unsettled message
	failures := 0
	for {
		sctx, end := context.WithCancel(ctx)
		h := newHandler(s, pub, sem, end)
		errsBefore := s.errCount.Load()
		err := cg.Consume(sctx, s.cfg.Topics, h)
		end()
		if ctx.Err() != nil {
			return
		}
		if h.progress.Load() {
			failures = 0
		}
		wait := adapters.ReconnectDelay(failures)
		switch refused, at := h.refusal(); {
		case refused != nil:
			s.log.Warn("message not accepted; rejoining so that it is consumed again", "at", at,
				"err", refused, "retry_in", wait.Seconds())
		case err != nil:
			s.d.Health.Set(condSubscribed, false, err.Error())
			s.warn("group session failed", err, "retry_in", wait.Seconds())
		case s.errCount.Load() != errsBefore:
			s.d.Health.Set(condSubscribed, false, "consumer errors; rejoining")
			s.log.Debug("session ended after consumer errors", "retry_in", wait.Seconds())
		default:
			continue // a rebalance: rejoin at once
		}
		failures++
		if !clock.Sleep(ctx, s.clk, wait) {
			return
		}
	}
}

// handler is one group session's sarama.ConsumerGroupHandler: ConsumeClaim publishes
// each partition's messages in order, a settle.Tracker per partition releases their
// settled prefix (extending the offset to commit), and a committer marks and commits
// every partition's offset.
type handler struct {
	s        *Source
	pub      adapters.Publisher
	sem      chan struct{}      // shared by the sessions of one Run
	end      context.CancelFunc // ends the session
	progress atomic.Bool        // a message was accepted

	stopCommit    chan struct{}
	committerDone chan struct{}

	mu        sync.Mutex // guards the fields below
	parts     map[tp]*partition
	closed    bool  // the session's last commit is taken; later settlements are ignored
	refused   error // the first refusal
	refusedAt string
}

// tp names a topic partition.
type tp struct {
	topic     string
	partition int32
}

// partition tracks one partition's published messages in arrival order.
type partition struct {
	tr     *settle.Tracker[int64] // offsets of published messages not yet released
	next   atomic.Int64           // one past the released prefix: the offset to commit; -1 none yet
	marked int64                  // the last offset handed to MarkOffset; -1 none; guarded by handler.mu
}

func newHandler(s *Source, pub adapters.Publisher, sem chan struct{}, end context.CancelFunc) *handler {
	return &handler{
		s: s, pub: pub, sem: sem, end: end,
		stopCommit:    make(chan struct{}),
		committerDone: make(chan struct{}),
		parts:         make(map[tp]*partition),
	}
}

// refusal returns the first refusal of the session and where it happened.
func (h *handler) refusal() (error, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refused, h.refusedAt
}

// Setup starts the committer once the session has its claims. The committer exits
// when Cleanup closes stopCommit.
func (h *handler) Setup(sess sarama.ConsumerGroupSession) error {
	h.s.d.Health.Set(condSubscribed, true, "")
	h.s.log.Info("joined the group", "member_id", sess.MemberID(), "generation", sess.GenerationID(),
		"claims", sess.Claims())
	go func() {
		defer close(h.committerDone)
		t := h.s.clk.NewTicker(commitInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C():
				h.commit(sess)
			case <-h.stopCommit:
				return
			}
		}
	}()
	return nil
}

// Cleanup runs after every ConsumeClaim has returned: it waits briefly until the
// daemon settled what it was given (as far as it can still be committed), then
// commits the released prefixes. Settlements after that are ignored.
func (h *handler) Cleanup(sess sarama.ConsumerGroupSession) error {
	close(h.stopCommit)
	<-h.committerDone
	t := h.s.clk.NewTimer(sessionQuiesce)
	defer t.Stop()
	h.mu.Lock()
	parts := make([]*partition, 0, len(h.parts))
	for _, p := range h.parts {
		parts = append(parts, p)
	}
	h.mu.Unlock()
wait:
	for _, p := range parts {
		select {
		case <-p.tr.Idle():
		case <-t.C():
			break wait
		}
	}
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	for _, p := range parts {
		p.tr.Close()
	}
	h.commit(sess)
	return nil
}

// commit marks every partition's released prefix and commits it, if anything moved.
func (h *handler) commit(sess sarama.ConsumerGroupSession) {
	type mark struct {
		tp
		next int64
	}
	var marks []mark
	h.mu.Lock()
	for k, p := range h.parts {
		if next := p.next.Load(); next > p.marked {
			marks = append(marks, mark{k, next})
			p.marked = next
		}
	}
	h.mu.Unlock()
	if len(marks) == 0 {
		return
	}
	for _, m := range marks {
		sess.MarkOffset(m.topic, m.partition, m.next, "")
	}
	sess.Commit()
}

// ConsumeClaim publishes one partition's messages in order until the session ends,
// or until a message of the partition was refused (nothing after it can be
// committed in this session).
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	p := h.partition(claim.Topic(), claim.Partition())
	for {
		var m *sarama.ConsumerMessage
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			m = msg
		case <-ctx.Done():
			return nil
		}
		select {
		case h.sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		ent, err := p.tr.Push(ctx, m.Offset, 1)
		if err != nil {
			<-h.sem
			return nil
		}
		done := func(s adapters.Settlement) {
			<-h.sem
			h.settle(p, ent, s, m)
		}
		if err := h.pub.Publish(ctx, h.s.event(m), done); err != nil {
			// Publish fails only once ctx has ended; done is never called then. The
			// message is abandoned: nothing from it on is committed.
			<-h.sem
			ent.Done(adapters.Refuse(err))
			return nil
		}
	}
}

// partition returns the state of a partition, created on first use.
func (h *handler) partition(topic string, part int32) *partition {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := tp{topic, part}
	p := h.parts[k]
	if p == nil {
		p = &partition{tr: settle.New[int64](settle.Options{}), marked: -1}
		p.next.Store(-1)
		h.parts[k] = p
	}
	return p
}

// settle records the settlement of a published message, which ends the session
// when it is the first refusal, and extends the partition's released prefix.
func (h *handler) settle(p *partition, e *settle.Entry[int64], s adapters.Settlement, m *sarama.ConsumerMessage) {
	h.mu.Lock()
	closed := h.closed
	switch {
	case closed:
	case s.OK():
		h.progress.Store(true)
	case h.refused == nil:
		h.refused = s.Err
		h.refusedAt = fmt.Sprintf("%s/%d@%d", m.Topic, m.Partition, m.Offset)
		h.end()
	}
	h.mu.Unlock()
	if closed {
		return
	}
	e.Done(s)
	p.tr.Release(func(off int64) { p.next.Store(off + 1) })
}

// event turns a message into an event.
func (s *Source) event(m *sarama.ConsumerMessage) *adapters.Event {
	key := ""
	if utf8.Valid(m.Key) {
		key = string(m.Key)
	}
	payload := bytes.Clone(m.Value)
	return &adapters.Event{
		ID:      adapters.NewID(),
		Kind:    s.cfg.Kind,
		Key:     keypath.Key(s.cfg.KeyPath, key, payload),
		Source:  s.d.Name,
		Topic:   m.Topic,
		Payload: payload,
		Attrs: map[string]string{
			"kafka.key":       key,
			"kafka.partition": strconv.FormatInt(int64(m.Partition), 10),
			"kafka.offset":    strconv.FormatInt(m.Offset, 10),
		},
		Received: s.d.Now(),
	}
}
