package kafka

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/tidwall/gjson"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

//go:embed sink_sample.yaml
var sinkSample string

func init() {
	adapters.RegisterSink("kafka", adapters.SinkSpec[SinkConfig]{
		Summary:  "Produce each event's payload as one Kafka record; delivered once the broker acknowledged it (acks=all, idempotent).",
		Sample:   sinkSample,
		Defaults: DefaultSinkConfig,
		New:      func(cfg SinkConfig, d adapters.Deps) (adapters.Sink, error) { return NewSink(cfg, d) },
		// The static bound; MaxInFlight reports the configured one.
		Info: adapters.Info{MaxInFlight: DefaultSinkMaxInFlight},
	})
}

var (
	_ adapters.Sink            = (*Sink)(nil)
	_ adapters.InFlightLimiter = (*Sink)(nil)
)

// Record headers the sink sets on every record.
const (
	HeaderEventID = "X-Edgerelay-Event-Id"
	HeaderSource  = "X-Edgerelay-Source" // only when the event names its source
	HeaderTopic   = "X-Edgerelay-Topic"  // only when the event has an upstream topic
)

// AttrHeaderPrefix marks event attributes forwarded as record headers, as the
// webhook sink forwards them as request headers: Attrs["header.X-ilert-Alert-Id"]
// becomes the record header X-ilert-Alert-Id.
const AttrHeaderPrefix = "header."

// condIdempotent is the degraded condition set while the brokers refuse the
// idempotent producer and records are produced without it.
const condIdempotent = "idempotent"

// producerRetries is how often sarama retries a produce the broker answered with a
// retriable error (a leader election, too few replicas) before Send reports it.
const producerRetries = 3

var (
	hdrEventID = []byte(HeaderEventID)
	hdrSource  = []byte(HeaderSource)
	hdrTopic   = []byte(HeaderTopic)
)

// errStopping is input's answer when the producer is being closed.
var errStopping = errors.New("the producer is closing")

// Sink is the Kafka sink: one sarama AsyncProducer whose every record carries its own
// completion, so that Send returns once the broker acknowledged that record while
// records of concurrent Sends share produce requests. It is safe for concurrent Send.
type Sink struct {
	cfg     SinkConfig // defaults applied
	path    string     // gjson path of the record key; "" means the event's Key
	idem    bool       // the idempotent producer is asked for
	acks    sarama.RequiredAcks
	codec   sarama.CompressionCodec
	where   string // "kafka topic alerts", for errors
	log     *slog.Logger
	health  adapters.Health
	secrets []string

	mu     sync.Mutex // guards cur and closed
	cur    *producer
	closed bool
	wg     sync.WaitGroup // the dispatchers of every producer
}

// producer is one sarama producer and the goroutine completing its records.
type producer struct {
	p          sarama.AsyncProducer
	client     sarama.Client // closed by dispatch once the producer has closed
	idempotent bool
	stopping   chan struct{} // closed when the producer starts closing
	cancelDial func()        // ends the dial context of its connections, once closed
	mu         sync.RWMutex  // read-held while a Send hands a record over; write-held by close
	once       sync.Once
}

// NewSink validates cfg and builds a Kafka sink. It does not connect.
func NewSink(cfg SinkConfig, d adapters.Deps) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Health == nil {
		d.Health = adapters.NopHealth{}
	}
	s := &Sink{
		cfg:    cfg,
		path:   cfg.keyPath(),
		idem:   cfg.Idempotent,
		acks:   acksModes[cfg.Acks],
		codec:  codecs[cfg.Compression],
		where:  "kafka topic " + cfg.Topic,
		log:    d.Log.With("topic", cfg.Topic),
		health: d.Health,
	}
	if pw := cfg.SASL.Password.Reveal(); pw != "" {
		secret.RegisterUserPassword(cfg.SASL.Username, pw)
		s.secrets = append(s.secrets, pw)
	}
	if s.idem && s.acks != sarama.WaitForAll {
		s.idem = false
		s.log.Warn("idempotent producer turned off: it needs acks: all", "acks", cfg.Acks)
	}
	return s, nil
}

// MaxInFlight returns the configured max_in_flight (adapters.InFlightLimiter).
func (s *Sink) MaxInFlight() int { return s.cfg.MaxInFlight }

// Connect creates the producer: it reads the TLS files, dials the brokers, logs in
// and fetches the cluster's metadata. When the brokers refuse the idempotent
// producer (an old broker, a missing IdempotentWrite permission) it produces
// without it, logging a warning and reporting the degraded condition "idempotent".
// Calling it again replaces the producer; records the old one holds are still
// completed.
func (s *Sink) Connect(ctx context.Context) error {
	var tc *tls.Config
	if s.cfg.TLS.On() {
		var err error
		if tc, err = s.cfg.TLS.Build(); err != nil {
			return err
		}
	}
	p, err := s.newProducer(ctx, tc, s.idem)
	if err != nil && s.idem && idempotenceRefused(err) {
		reason := s.scrub(err).Error()
		s.log.Warn("the brokers refuse the idempotent producer; producing without it (a retried produce may write a duplicate)",
			"err", reason)
		s.health.SetDegraded(condIdempotent, false, "brokers refuse the idempotent producer: "+reason)
		p, err = s.newProducer(ctx, tc, false)
	} else if err == nil && s.idem {
		s.health.SetDegraded(condIdempotent, true, "")
	}
	if err != nil {
		hint := ""
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			hint = " (the broker closed the connection: a refused SASL login, or TLS on one side only)"
		}
		return s.scrub(fmt.Errorf("%s: connect to %v: %w%s", s.where, s.cfg.Brokers, err, hint))
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		p.close()
		return fmt.Errorf("%s: the sink is closed", s.where)
	}
	old := s.cur
	s.cur = p
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	s.log.Info("producer connected", "brokers", s.cfg.Brokers, "acks", s.cfg.Acks, "idempotent", p.idempotent,
		"compression", s.cfg.Compression)
	return nil
}

// newProducer creates a producer and starts its dispatcher. Connections dialled
// while it runs are aborted when ctx ends; later ones (reconnects inside sarama)
// outlive ctx.
func (s *Sink) newProducer(ctx context.Context, tc *tls.Config, idempotent bool) (*producer, error) {
	dialCtx, cancelDial := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancelDial)
	defer stop()
	sc := s.saramaConfig(tc, &ctxDialer{ctx: dialCtx, d: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}}, idempotent)
	// The client is made separately: sarama.NewAsyncProducer leaves its client open
	// when InitProducerId fails.
	cl, err := sarama.NewClient(s.cfg.Brokers, sc)
	if err == nil {
		var ap sarama.AsyncProducer
		if ap, err = sarama.NewAsyncProducerFromClient(cl); err == nil {
			p := &producer{p: ap, client: cl, idempotent: idempotent, stopping: make(chan struct{}), cancelDial: cancelDial}
			s.wg.Add(1)
			go p.dispatch(&s.wg) // exits when the producer has closed both result channels
			return p, nil
		}
		_ = cl.Close()
	}
	cancelDial()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return nil, err
}

// saramaConfig translates the sink's configuration.
func (s *Sink) saramaConfig(tc *tls.Config, dialer *ctxDialer, idempotent bool) *sarama.Config {
	sc := connConfig(s.cfg.ClientID, tc, s.cfg.SASL, dialer)
	// An answer takes the broker's replica wait (Producer.Timeout) plus the trip.
	sc.Net.ReadTimeout = max(10*time.Second, 2*s.cfg.Timeout)
	sc.Net.WriteTimeout = sc.Net.ReadTimeout
	sc.Producer.RequiredAcks = s.acks
	sc.Producer.Timeout = s.cfg.Timeout
	sc.Producer.Compression = s.codec
	sc.Producer.MaxMessageBytes = s.cfg.MaxMessageBytes
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Retry.Max = producerRetries
	sc.Producer.Idempotent = idempotent
	if idempotent {
		sc.Net.MaxOpenRequests = 1 // sarama's requirement for the idempotent producer
	}
	// The hash partitioner (sarama's default) keeps one key on one partition; a
	// record without a key goes to a random partition.
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	sc.Metadata.Full = false // only the topic produced to, not the whole cluster's
	return sc
}

// dispatch completes every record the producer returns until it closed its result
// channels.
func (p *producer) dispatch(wg *sync.WaitGroup) {
	defer wg.Done()
	defer func() { _ = p.client.Close() }()
	succ, errs := p.p.Successes(), p.p.Errors()
	for succ != nil || errs != nil {
		select {
		case m, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			complete(m, nil)
		case pe, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			complete(pe.Msg, pe.Err)
		}
	}
}

// complete hands a record's result to the Send waiting for it.
func complete(m *sarama.ProducerMessage, err error) {
	if m == nil {
		return
	}
	if ch, ok := m.Metadata.(chan error); ok {
		ch <- err // buffered: never blocks, even when the Send gave up
	}
}

// input hands m to the producer, unless the producer closes or ctx ends first.
func (p *producer) input(ctx context.Context, m *sarama.ProducerMessage) error {
	if err := ctx.Err(); err != nil {
		return err // a select below could still pick the input
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	select {
	case <-p.stopping:
		return errStopping
	default:
	}
	select {
	case p.p.Input() <- m:
		return nil
	case <-p.stopping:
		return errStopping
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the producer: no record is handed over after it returns, and the
// records it holds are flushed and completed in the background (done).
func (p *producer) close() {
	p.once.Do(func() {
		close(p.stopping)
		p.mu.Lock() // waits for the Sends handing a record over to give up
		p.p.AsyncClose()
		p.mu.Unlock()
		p.cancelDial()
	})
}

// current returns the producer Connect made last, or nil.
func (s *Sink) current() *producer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Send produces e as one record and returns once the broker acknowledged it (with
// acks none: once it was written to the connection), the broker refused it, or
// timeout passed. A record too large or a topic the broker calls invalid is
// permanent; a lost connection wraps [adapters.ErrNotConnected]; anything else is
// retryable. Its errors never contain the SASL password.
func (s *Sink) Send(ctx context.Context, e *adapters.Event) error {
	m := s.record(e)
	if n := m.ByteSize(2); n > s.cfg.MaxMessageBytes {
		return adapters.Permanent(fmt.Errorf("%s: a record of %d bytes, over max_message_bytes %d",
			s.where, n, s.cfg.MaxMessageBytes))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	done := make(chan error, 1)
	m.Metadata = done
	for {
		p := s.current()
		if p == nil {
			return fmt.Errorf("%s: %w", s.where, adapters.ErrNotConnected)
		}
		err := p.input(ctx, m)
		if err == nil {
			break
		}
		if errors.Is(err, errStopping) {
			if s.current() != p {
				continue // Connect replaced the producer: use the new one
			}
			return fmt.Errorf("%s: %w: %w", s.where, err, adapters.ErrNotConnected)
		}
		return fmt.Errorf("%s: not handed to the producer: %w", s.where, err)
	}
	select {
	case err := <-done:
		return s.classify(err)
	case <-ctx.Done():
		return fmt.Errorf("%s: no acknowledgement within %s: %w", s.where, s.cfg.Timeout, ctx.Err())
	}
}

// record builds e's record: the payload as the value, the key as configured, the
// event's received time as the timestamp, the sink's headers and the forwarded
// attributes. The header values (and forwarded names) share one allocation.
func (s *Sink) record(e *adapters.Event) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: s.cfg.Topic, Value: sarama.ByteEncoder(e.Payload), Timestamp: e.Received}
	if k := s.key(e); k != "" {
		m.Key = sarama.StringEncoder(k)
	}
	n, size := 3, len(e.ID)+len(e.Source)+len(e.Topic)
	for k, v := range e.Attrs {
		if name, ok := forwardedHeader(k); ok {
			n++
			size += len(name) + len(v)
		}
	}
	buf := make([]byte, 0, size) // never grows: earlier slices of it stay valid
	m.Headers = make([]sarama.RecordHeader, 0, n)
	m.Headers = append(m.Headers, sarama.RecordHeader{Key: hdrEventID, Value: appendPiece(&buf, e.ID)})
	if e.Source != "" {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: hdrSource, Value: appendPiece(&buf, e.Source)})
	}
	if e.Topic != "" {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: hdrTopic, Value: appendPiece(&buf, e.Topic)})
	}
	for k, v := range e.Attrs {
		if name, ok := forwardedHeader(k); ok && len(m.Headers) < n {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: appendPiece(&buf, name), Value: appendPiece(&buf, v)})
		}
	}
	return m
}

// forwardedHeader returns the record header an event attribute is forwarded as:
// "header.<name>" gives <name>, unless it is empty or one of the sink's own.
func forwardedHeader(attr string) (string, bool) {
	name, ok := strings.CutPrefix(attr, AttrHeaderPrefix)
	if !ok || name == "" || len(name) >= len("x-edgerelay-") && strings.EqualFold(name[:len("x-edgerelay-")], "x-edgerelay-") {
		return "", false
	}
	return name, true
}

// appendPiece appends v to *buf, whose capacity suffices, and returns the piece.
func appendPiece(buf *[]byte, v string) []byte {
	start := len(*buf)
	*buf = append(*buf, v...)
	return (*buf)[start:len(*buf):len(*buf)]
}

// key returns e's record key: the event's Key, or the value at the configured path
// of a JSON payload (a string as it is, a number or a boolean as its JSON text);
// "" when the payload is not JSON or has no such scalar.
func (s *Sink) key(e *adapters.Event) string {
	if s.path == "" {
		return e.Key
	}
	if !gjson.ValidBytes(e.Payload) {
		return ""
	}
	v := gjson.GetBytes(e.Payload, s.path)
	switch v.Type {
	case gjson.String:
		return v.Str
	case gjson.Number, gjson.True, gjson.False:
		return v.Raw
	default: // missing, null, object, array
		return ""
	}
}

// classify turns a producer result into Send's error.
func (s *Sink) classify(err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", s.where, err)
	var cfgErr sarama.ConfigurationError
	var kerr sarama.KError
	switch {
	case errors.As(err, &cfgErr): // sarama's own size check
		return adapters.Permanent(s.scrub(err))
	case errors.As(err, &kerr):
		switch kerr {
		case sarama.ErrMessageSizeTooLarge, sarama.ErrInvalidTopic, sarama.ErrMessageSetSizeTooLarge, sarama.ErrInvalidRecord:
			return adapters.Permanent(s.scrub(err))
		case sarama.ErrBrokerNotAvailable, sarama.ErrNetworkException,
			// The idempotent producer's sequence or epoch is out of step with the
			// broker's (a broker restart lost its state, a fenced producer): this
			// producer will never get past it, so Connect builds a new one.
			sarama.ErrOutOfOrderSequenceNumber, sarama.ErrUnknownProducerID, sarama.ErrInvalidProducerEpoch:
			return s.scrub(fmt.Errorf("%w: %w", err, adapters.ErrNotConnected))
		}
		return s.scrub(err)
	case connectionLost(err):
		return s.scrub(fmt.Errorf("%w: %w", err, adapters.ErrNotConnected))
	}
	return s.scrub(err)
}

// connectionLost reports whether err says the brokers cannot be reached.
func connectionLost(err error) bool {
	var ne net.Error
	return errors.Is(err, sarama.ErrOutOfBrokers) || errors.Is(err, sarama.ErrNotConnected) ||
		errors.Is(err, sarama.ErrClosedClient) || errors.Is(err, sarama.ErrShuttingDown) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne)
}

// idempotenceRefused reports whether creating an idempotent producer failed because
// the brokers do not offer or allow it (InitProducerId refused).
func idempotenceRefused(err error) bool {
	return errors.Is(err, sarama.ErrClusterAuthorizationFailed) || errors.Is(err, sarama.ErrUnsupportedVersion) ||
		errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed) || errors.Is(err, sarama.ErrUnsupportedForMessageFormat)
}

// scrub removes the configured secrets from err's text.
func (s *Sink) scrub(err error) error { return secret.Scrub(err, s.secrets...) }

// Close closes the producer: the records it still holds are flushed and completed,
// for as long as ctx allows.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	p := s.cur
	s.cur = nil
	s.mu.Unlock()
	if p != nil {
		p.close()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }() // exits once every dispatcher has
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: close: records still in flight: %w", s.where, ctx.Err())
	}
}
