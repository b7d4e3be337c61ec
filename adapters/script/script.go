// Package script is the script sink: it runs an executable for each event, directly
// (no shell), in a process group of its own, with the payload on its standard input
// and the event's metadata in its environment. Exit status 0 means delivered. See
// README.md for the configuration and the delivery semantics.
package script

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/logx"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

//go:embed sample.yaml
var sample string

func init() {
	adapters.RegisterSink("script", adapters.SinkSpec[Config]{
		Summary:  "Run an executable for each event (no shell), the payload on its stdin.",
		Sample:   sample,
		Defaults: DefaultConfig,
		New:      func(cfg Config, d adapters.Deps) (adapters.Sink, error) { return New(cfg, d) },
		// The static bound; MaxInFlight reports the configured one.
		Info: adapters.Info{MaxInFlight: DefaultMaxInFlight},
	})
}

var (
	_ adapters.Sink            = (*Sink)(nil)
	_ adapters.InFlightLimiter = (*Sink)(nil)
)

// The variables the sink sets for every run, replacing any of the daemon's
// environment. EnvKey and EnvTopic are empty when the event has none.
const (
	EnvEventID = "EDGERELAY_EVENT_ID"
	EnvKey     = "EDGERELAY_EVENT_KEY"
	EnvKind    = "EDGERELAY_EVENT_KIND"
	EnvSource  = "EDGERELAY_EVENT_SOURCE"
	EnvTopic   = "EDGERELAY_EVENT_TOPIC"
	EnvSink    = "EDGERELAY_SINK"
)

// AttrEnvPrefix marks event attributes passed as environment variables:
// Attrs["env.ILERT_ALERT_ID"] becomes the variable ILERT_ALERT_ID.
const AttrEnvPrefix = "env."

// drainTime is how long the output of a script that has exited is still read: what
// it wrote is already in the pipes, so this only bounds the wait for a background
// process it left holding them open.
const drainTime = 250 * time.Millisecond

// maxReason bounds the stderr excerpt an error (and so a dead letter) carries.
const maxReason = 256

// Sink is the script sink. It is safe for concurrent Send.
type Sink struct {
	cfg       Config
	name      string
	argv      []string
	log       *slog.Logger
	limiter   *logx.Limiter
	component string                    // the limiter's key for this sink's warnings
	env       atomic.Pointer[scriptEnv] // made by New, again by each Connect
	secrets   []string                  // the env values, for Scrub
	connected atomic.Bool
	command   func(adapters.CommandReport) // adapters.Deps.Command; nil reports nothing
}

// New builds a script sink from cfg (zero fields take their defaults). It checks the
// configuration and that the command is an executable file; it runs nothing.
func New(cfg Config, d adapters.Deps) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := adapters.CheckExecutable(cfg.Command); err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	if abs, err := filepath.Abs(cfg.Command); err == nil {
		cfg.Command = abs // a later change of the working directory does not matter
	}
	s := &Sink{
		cfg:       cfg,
		name:      d.Name,
		argv:      append([]string{cfg.Command}, cfg.Args...),
		log:       d.Log,
		limiter:   d.Limiter,
		component: "script:" + d.Name,
		command:   d.Command,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, v := range cfg.Env {
		s.secrets = append(s.secrets, v)
	}
	s.env.Store(newScriptEnv(os.Environ(), cfg.Env))
	return s, nil
}

// scriptEnv is the environment every run starts from.
type scriptEnv struct {
	base  []string            // the daemon's environment, its secrets left out, with cfg.Env applied
	taken map[string]struct{} // the names an event attribute may not set: cfg.Env's and the sink's own
}

func newScriptEnv(daemon []string, cfg map[string]string) *scriptEnv {
	base, taken := baseEnv(daemon, cfg)
	return &scriptEnv{base: base, taken: taken}
}

// MaxInFlight returns the configured max_in_flight (adapters.InFlightLimiter).
func (s *Sink) MaxInFlight() int { return s.cfg.MaxInFlight }

// Connect checks that the command is still an executable file. It starts nothing.
func (s *Sink) Connect(context.Context) error {
	if err := adapters.CheckExecutable(s.cfg.Command); err != nil {
		s.connected.Store(false)
		return fmt.Errorf("command: %w", err)
	}
	// Again now that every adapter is built: the secrets they read from the
	// environment (an edge connector key, ILERT_API_KEY, any *_env) are registered,
	// and are left out of the scripts' environment.
	s.env.Store(newScriptEnv(os.Environ(), s.cfg.Env))
	s.connected.Store(true)
	return nil
}

// Close does nothing: every run ended before its Send returned.
func (s *Sink) Close(context.Context) error {
	s.connected.Store(false)
	return nil
}

// Send runs the command once for e and classifies the run: exit status 0 is
// delivered; a status listed in permanent_exit_codes is permanent; any other status,
// death by a signal, a timeout, a failure to start and a cancelled ctx are
// retryable. A failure to start wraps adapters.ErrNotConnected, so the daemon checks
// the command again (Connect) before the next try. Send returns once the process has
// been reaped; at a timeout or when ctx ends that takes at most kill_grace more.
func (s *Sink) Send(ctx context.Context, e *adapters.Event) error {
	if !s.connected.Load() {
		return fmt.Errorf("script %s: %w", s.cfg.Command, adapters.ErrNotConnected)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("script %s: not started: %w", s.cfg.Command, err)
	}
	item := e.Attrs[AttrEdgeItemID]
	if item != "" && s.command != nil {
		s.command(adapters.CommandReport{State: adapters.CommandCreated, ItemID: item, AlertID: e.Attrs[AttrEdgeAlertID]})
	}
	r := s.run(ctx, e)
	err := s.verdict(r)
	s.report(ctx, e, r, err)
	if item != "" && s.command != nil {
		s.command(commandOutcome(item, e.Attrs[AttrEdgeAlertID], r, err))
	}
	return err
}

// The attributes of an ilert_edge source's event that name its item and alert
// (package adapters/ilert/edge, which this package does not import): a run for an
// event with an item id is reported through adapters.Deps.Command.
const (
	AttrEdgeItemID  = "env.ILERT_EDGE_ITEM_ID"
	AttrEdgeAlertID = "env.ILERT_ALERT_ID"
)

// commandOutcome is the report of a finished run: completed when it was delivered,
// expired when it ran past its timeout, else failed (with its exit status when it
// exited by itself; without one when it could not start or the daemon's shutdown
// stopped it, and its item runs again after the restart).
func commandOutcome(item, alert string, r *run, err error) adapters.CommandReport {
	c := adapters.CommandReport{State: adapters.CommandFailed, ItemID: item, AlertID: alert, Duration: r.took}
	// A run the sink killed (its timeout, the daemon's shutdown) has no exit status
	// of its own, even when the script exited by itself on the SIGTERM.
	if r.state != nil && r.state.Exited() && !r.timedOut && r.cancelled == nil {
		c.Exited, c.ExitCode = true, r.state.ExitCode()
	}
	switch {
	case r.timedOut:
		c.State = adapters.CommandExpired
	case err == nil:
		c.State = adapters.CommandCompleted
	}
	return c
}

// run is one run of the command and what came of it.
type run struct {
	startErr  error
	state     *os.ProcessState
	waitErr   error
	timedOut  bool
	cancelled error // ctx's error when ctx ended first
	heldOpen  bool  // the output was still open drainTime after the exit
	stdinErr  error
	stdout    capture
	stderr    capture
	took      time.Duration
}

func (s *Sink) run(ctx context.Context, e *adapters.Event) *run {
	r := &run{stdout: capture{max: s.cfg.MaxOutputBytes}, stderr: capture{max: s.cfg.MaxOutputBytes}}
	began := time.Now()
	defer func() { r.took = time.Since(began) }()

	var pipes [3][2]*os.File // stdin, stdout, stderr: {read end, write end}
	closeAll := func() {
		for _, p := range pipes {
			for _, f := range p {
				if f != nil {
					_ = f.Close()
				}
			}
		}
	}
	for i := range pipes {
		rd, wr, err := os.Pipe()
		if err != nil {
			closeAll()
			r.startErr = fmt.Errorf("make a pipe: %w", err)
			return r
		}
		pipes[i] = [2]*os.File{rd, wr}
	}
	stdinW, stdoutR, stderrR := pipes[0][1], pipes[1][0], pipes[2][0]
	proc, err := startProcess(s.cfg.Command, s.argv, s.environ(e), pipes[0][0], pipes[1][1], pipes[2][1])
	// The child has its ends; the parent keeps only stdin's write end and the read
	// ends, so that EOF comes once every process holding them is gone.
	for _, f := range []*os.File{pipes[0][0], pipes[1][1], pipes[2][1]} {
		_ = f.Close()
	}
	if err != nil {
		for _, f := range []*os.File{stdinW, stdoutR, stderrR} {
			_ = f.Close()
		}
		r.startErr = err
		return r
	}

	// Three goroutines move the data; each ends at EOF or an error, at the latest
	// when the ends below are closed after the process exited.
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		_, r.stdinErr = stdinW.Write(e.Payload)
		_ = stdinW.Close()
	}()
	go func() { defer wg.Done(); r.stdout.readFrom(stdoutR) }()
	go func() { defer wg.Done(); r.stderr.readFrom(stderrR) }()
	// It ends when the process exits: by itself or, at the latest, by SIGKILL.
	exited := make(chan struct{})
	go func() {
		_ = waitExited(proc.Pid)
		close(exited)
	}()

	timer := time.NewTimer(s.cfg.Timeout)
	select {
	case <-exited:
	case <-timer.C:
		r.timedOut = true
	case <-ctx.Done():
		r.cancelled = ctx.Err()
	}
	timer.Stop()
	select {
	case <-exited: // it exited as the timer fired or ctx ended: its status stands
		r.timedOut, r.cancelled = false, nil
	default:
	}
	if r.timedOut || r.cancelled != nil {
		s.killGroup(proc.Pid, exited)
	}
	r.state, r.waitErr = proc.Wait() // reaps: the process has exited
	r.heldOpen = drain(&wg, stdinW, stdoutR, stderrR)
	return r
}

// killGroup ends the process group pid leads: SIGTERM, then SIGKILL once the leader
// exited or kill_grace passed (for whatever it left behind), and waits for the
// leader's exit. The leader is not reaped yet, so the group id is still ours.
func (s *Sink) killGroup(pid int, exited <-chan struct{}) {
	if err := signalGroup(pid, syscall.SIGTERM); err != nil {
		s.log.Debug("signal the script's process group", "signal", "TERM", "err", err)
	}
	grace := time.NewTimer(s.cfg.KillGrace)
	select {
	case <-exited:
	case <-grace.C:
	}
	grace.Stop()
	if err := signalGroup(pid, syscall.SIGKILL); err != nil {
		s.log.Debug("signal the script's process group", "signal", "KILL", "err", err)
	}
	<-exited
}

// drain waits up to drainTime for the I/O goroutines, then closes the parent's ends
// to end them, and waits for them. It reports whether it had to close them: some
// process the script left behind still held its standard streams.
func drain(wg *sync.WaitGroup, files ...*os.File) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }() // ends with the I/O goroutines
	t := time.NewTimer(drainTime)
	defer t.Stop()
	held := false
	select {
	case <-done:
	case <-t.C:
		held = true
	}
	for _, f := range files {
		_ = f.Close() // unblocks a Read or Write in progress
	}
	<-done
	return held
}

// verdict turns a run into Send's result. Errors name the command, say what
// happened and carry an excerpt of stderr; secrets are scrubbed from them.
func (s *Sink) verdict(r *run) error {
	var err error
	switch {
	case r.startErr != nil:
		err = fmt.Errorf("script %s: start: %w (%w)", s.cfg.Command, r.startErr, adapters.ErrNotConnected)
		s.connected.Store(false)
	case r.timedOut:
		err = fmt.Errorf("script %s: timed out after %s; its process group was killed", s.cfg.Command, s.cfg.Timeout)
	case r.cancelled != nil:
		err = fmt.Errorf("script %s: stopped before it finished, its process group was killed: %w", s.cfg.Command, r.cancelled)
	case r.waitErr != nil:
		err = fmt.Errorf("script %s: wait: %w", s.cfg.Command, r.waitErr)
	case r.state.ExitCode() == 0:
		return nil
	case r.state.ExitCode() < 0:
		err = fmt.Errorf("script %s: %s", s.cfg.Command, r.state) // "signal: killed"
	default:
		code := r.state.ExitCode()
		err = fmt.Errorf("script %s: exit status %d", s.cfg.Command, code)
		if slices.Contains(s.cfg.PermanentExitCodes, code) {
			err = adapters.Permanent(fmt.Errorf("%w (permanent_exit_codes: not retried)", err))
		}
	}
	if text := strings.TrimSpace(string(r.stderr.buf)); text != "" {
		err = fmt.Errorf("%w; stderr: %s", err, secret.Excerpt(text, maxReason))
	}
	return secret.Scrub(err, s.secrets...)
}

// report logs the run: when it delivered, at INFO if the script wrote anything
// (rate-limited: a script that talks on every event must not flood the log) and at
// DEBUG otherwise; when it did not, as a rate-limited warning. Output is redacted
// before it is logged.
func (s *Sink) report(ctx context.Context, e *adapters.Event, r *run, err error) {
	quiet := r.stdout.total == 0 && r.stderr.total == 0
	if err == nil && quiet && !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	args := []any{"event_id", e.ID, "took", r.took.Round(time.Millisecond)}
	if r.state != nil {
		args = append(args, "exit", r.state.ExitCode())
	}
	args = r.stdout.attrs(args, "stdout")
	args = r.stderr.attrs(args, "stderr")
	if r.heldOpen {
		args = append(args, "note", "a process the script left behind still held its output; it was not waited for")
	}
	if r.stdinErr != nil && !errors.Is(r.stdinErr, os.ErrClosed) && !errors.Is(r.stdinErr, syscall.EPIPE) {
		args = append(args, "stdin_err", r.stdinErr)
	}
	if err == nil {
		if quiet {
			s.log.Debug("script delivered the event", args...)
			return
		}
		s.limiter.Log(s.log, slog.LevelInfo, s.component+":output", "script delivered the event", args...)
		return
	}
	args = append(args, "err", err)
	s.limiter.Warn(s.log, s.component, "script failed", args...)
}

// environ returns the environment of e's run: the daemon's environment with `env`
// applied, the sink's EDGERELAY_* variables, and one variable per env.* attribute
// whose name is valid, free (not set by the lines before) and not one that changes
// how programs load or shells start (see deniedAttrEnv).
func (s *Sink) environ(e *adapters.Event) []string {
	se := s.env.Load()
	env := make([]string, 0, len(se.base)+6+len(e.Attrs))
	env = append(env, se.base...)
	env = append(env,
		EnvEventID+"="+clean(e.ID),
		EnvKey+"="+clean(e.Key),
		EnvKind+"="+clean(e.Kind),
		EnvSource+"="+clean(e.Source),
		EnvTopic+"="+clean(e.Topic),
		EnvSink+"="+clean(s.name),
	)
	for k, v := range e.Attrs {
		name, ok := strings.CutPrefix(k, AttrEnvPrefix)
		if !ok {
			continue
		}
		if _, dup := se.taken[name]; dup || !ValidEnvName(name) || deniedAttrEnv(name) || len(v) > MaxAttrEnvBytes {
			s.log.Debug("event attribute not passed as a variable", "event_id", e.ID, "attr", k, "bytes", len(v))
			continue
		}
		env = append(env, name+"="+clean(v))
	}
	return env
}

// MaxAttrEnvBytes bounds the value of an env.* attribute passed as a variable. The
// kernel refuses to start a program with a variable over 128 KiB (E2BIG), and a
// start failure is retried: one oversize attribute from outside would hold its key's
// events back for ever. A longer value is left out (logged at DEBUG), the payload on
// stdin is where large data belongs.
const MaxAttrEnvBytes = 32 << 10

// baseEnv applies cfg (NAME → value) to the daemon's environment (NAME=value lines),
// drops the sink's own variables and every variable whose value holds a registered
// secret (package secret: an edge connector key, ILERT_API_KEY, a *_env of any
// adapter — a script gets what its env gives it, not the daemon's credentials); it
// returns the lines and the names an event attribute may not set: cfg's and the
// sink's own. An attribute may replace an inherited variable (exec keeps the last
// of a repeated name): ILERT_ALERT_ID left in a shared EnvironmentFile must not hide
// the item's.
func baseEnv(daemon []string, cfg map[string]string) ([]string, map[string]struct{}) {
	taken := map[string]struct{}{}
	for _, n := range []string{EnvEventID, EnvKey, EnvKind, EnvSource, EnvTopic, EnvSink} {
		taken[n] = struct{}{}
	}
	var out []string
	for _, kv := range daemon {
		name, value, _ := strings.Cut(kv, "=")
		if _, own := taken[name]; own {
			continue
		}
		if _, set := cfg[name]; set {
			continue
		}
		if value != "" && secret.Redact(value) != value {
			continue
		}
		out = append(out, kv)
	}
	names := make([]string, 0, len(cfg))
	for n := range cfg {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		out = append(out, n+"="+cfg[n])
		taken[n] = struct{}{}
	}
	return out, taken
}

// deniedAttrEnv reports whether an event attribute may not set the variable name,
// even when it is free: the sink's own prefix (EDGERELAY_), and the variables that make the dynamic loader, a shell or a
// common interpreter load or run other code, and the ones that redirect where a
// program looks for commands and files. An event (from an MQTT publisher, an HTTP
// client) must not be able to change what the script runs.
func deniedAttrEnv(name string) bool {
	switch name {
	case "ENV", "IFS", "PATH", "CDPATH", "SHELLOPTS", "BASHOPTS", "PS4", "GLOBIGNORE",
		"HOME", "SHELL", "TMPDIR", "LOCPATH", "NLSPATH", "GCONV_PATH", "HOSTALIASES",
		"RES_OPTIONS", "LOCALDOMAIN", "TZDIR", "TERMINFO", "SSL_CERT_FILE", "SSL_CERT_DIR":
		return true
	}
	for _, p := range []string{EnvPrefix, "LD_", "DYLD_", "BASH_", "GLIBC_", "MALLOC_", "PYTHON", "PERL", "RUBY",
		"NODE_", "JAVA_", "_JAVA", "GIT_", "LUA_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// clean removes NUL bytes, which an environment value cannot carry (the payload on
// stdin keeps them).
func clean(v string) string {
	if strings.IndexByte(v, 0) < 0 {
		return v
	}
	return strings.ReplaceAll(v, "\x00", "")
}

// capture keeps the first max bytes of a stream and counts the rest, which it reads
// and discards: memory stays bounded whatever the script writes.
type capture struct {
	max   int
	buf   []byte
	total int64
}

// chunks are the read buffers of captures: two per run in flight.
var chunks = sync.Pool{New: func() any { return new([4096]byte) }}

// readFrom reads r to EOF or an error (its end closed under it).
func (c *capture) readFrom(r io.Reader) {
	chunk := chunks.Get().(*[4096]byte)
	defer chunks.Put(chunk)
	for {
		n, err := r.Read(chunk[:])
		if n > 0 {
			c.total += int64(n)
			if room := c.max - len(c.buf); room > 0 {
				if c.buf == nil {
					c.buf = make([]byte, 0, min(c.max, max(n, 512)))
				}
				c.buf = append(c.buf, chunk[:min(n, room)]...)
			}
		}
		if err != nil {
			return
		}
	}
}

// attrs appends the captured text (redacted) and, when it was cut, the size of the
// whole stream.
func (c *capture) attrs(args []any, name string) []any {
	if c.total == 0 {
		return args
	}
	args = append(args, name, secret.Redact(string(c.buf)))
	if c.total > int64(len(c.buf)) {
		args = append(args, name+"_bytes", c.total)
	}
	return args
}
