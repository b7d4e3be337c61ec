// Package config loads edgerelay's YAML configuration: strict decoding (an unknown key
// or a bad value is reported with its line), ${VAR} interpolation, defaults, each
// source and sink section decoded into its adapter's own Config through the adapters
// registry, and a Validate that reports every problem at once. An old spelling of an
// adapter key (max_inflight for max_in_flight) is still accepted, with a warning in
// Config.Warnings for the caller to log.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/adapters/topic"
	"github.com/edgerelay/edgerelay/daemon/broker"
	"github.com/edgerelay/edgerelay/daemon/lifecycle"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
	"github.com/edgerelay/edgerelay/daemon/web"
)

// DefaultYAML is the embedded default configuration `edgerelay run` uses without -c:
// the embedded broker (or the site's own on 127.0.0.1:1883), topic edgerelay/# routed
// to stdout, HTTP on 127.0.0.1:8977 and the store in ./edgerelay-state.
//
//go:embed default.yaml
var DefaultYAML []byte

// Config is the whole daemon configuration.
type Config struct {
	// Node identifies this gateway.
	Node Node `yaml:"node"`
	// Log sets logging.
	Log Log `yaml:"log"`
	// Store sets the durable outbox.
	Store Store `yaml:"store"`
	// HTTP is the health, readiness and metrics listener.
	HTTP web.Config `yaml:"http"`
	// Broker is the optional embedded MQTT broker.
	Broker broker.Config `yaml:"broker"`
	// Rejects says what happens to events no sink will take.
	Rejects Rejects `yaml:"rejects"`
	// Indicator is the status LED (package hw).
	Indicator Indicator `yaml:"indicator"`
	// Sources are the intakes.
	Sources []Adapter `yaml:"-"`
	// Sinks are the destinations.
	Sinks []Adapter `yaml:"-"`
	// Routes connect sources to sinks.
	Routes []Route `yaml:"routes"`
	// Events publishes lifecycle CloudEvents (package daemon/lifecycle); decoded by
	// decodeEvents, with the EVENT_BROKER_* variables applied.
	Events lifecycle.Config `yaml:"-"`
	// File is where the configuration came from ("" for the embedded default).
	File string `yaml:"-"`
	// Warnings are findings that do not make the configuration invalid (an old
	// spelling of a key, see renamedKeys), for the caller to log at warn level.
	Warnings []string `yaml:"-"`
}

// Node identifies this gateway.
type Node struct {
	// ID names this gateway in logs and, later, loop headers. Empty means the hostname.
	ID string `yaml:"id"`
}

// Log sets logging.
type Log struct {
	// Level is debug, info, warn or error. Empty means info.
	Level string `yaml:"level"`
	// Format is text or json. Empty means text.
	Format string `yaml:"format"`
}

// Store sets the durable outbox.
type Store struct {
	// Path is the bbolt file. Empty means $STATE_DIRECTORY/queue.db under systemd,
	// else /var/lib/edgerelay/queue.db.
	Path string `yaml:"path"`
	// CommitWindow is how long the writer gathers events into one transaction while
	// some sink is failing, i.e. how long an event waits before it is made durable and
	// acknowledged upstream. Zero means 5ms.
	CommitWindow time.Duration `yaml:"commit_window"`
	// DeliverWindow replaces CommitWindow while every sink is healthy: an event the
	// sinks deliver within it is never written, which spares the flash in bursts.
	// Zero means 500ms; a negative value turns it off (CommitWindow always applies).
	DeliverWindow time.Duration `yaml:"deliver_window"`
	// MaxBatch bounds events per transaction. Zero means 1024.
	MaxBatch int `yaml:"max_batch"`
	// MaxEventBytes rejects larger payloads (see rejects.oversize). Zero means 256 KiB;
	// -1 means no limit.
	MaxEventBytes int `yaml:"max_event_bytes"`
	// MaxPending bounds events accepted but neither delivered nor stored yet; sources
	// stop acknowledging past it. Zero means 1024.
	MaxPending int `yaml:"max_pending"`
	// MemoryItems bounds events each sink keeps in memory; the rest wait in the store.
	// Zero means 1024.
	MemoryItems int `yaml:"memory_items"`
	// VerifyOnOpen runs the structural check when the store opens. Default true.
	VerifyOnOpen *bool `yaml:"verify_on_open"`
	// DrainTimeout bounds in-flight deliveries at shutdown. Zero means 5s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// MaxBytes bounds the store's live data (the pages in use, not the file, which
	// never shrinks): at the bound events are no longer stored, sources are not
	// acknowledged for events a sink has not delivered (back-pressure) and /ready
	// reports the store critical, until the backlog drains under 90%. The daemon
	// lowers it at start to the file's size plus 3/4 of the free space of its
	// filesystem when that is less. Zero means 256 MiB; -1 means no bound.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxDeadLetters bounds each sink's dead letters (and the @rejected ones) in
	// number, the oldest evicted first. Zero means 10000; -1 means no bound.
	MaxDeadLetters int `yaml:"max_dead_letters"`
	// MaxDeadBytes bounds each sink's dead letters (and the @rejected ones) in bytes,
	// the oldest evicted first; the newest is always kept. Zero means 32 MiB; -1
	// means no bound.
	MaxDeadBytes int64 `yaml:"max_dead_bytes"`
	// UnsafeNoSync turns off fsync. Events acknowledged upstream can then be lost in a
	// power cut. It exists for benchmarks (the "durability off" baseline); never set it
	// in production.
	UnsafeNoSync bool `yaml:"unsafe_no_sync"`
}

// Rejects says what happens to events no sink takes.
type Rejects struct {
	// Unrouted applies to events no route matches and to payloads a route refuses
	// (require_json): drop (count and log) or dead_letter (keep in the @rejected
	// dead-letter bucket). Empty means drop.
	Unrouted pipeline.Policy `yaml:"unrouted"`
	// Oversize applies to payloads over store.max_event_bytes. Empty means dead_letter.
	Oversize pipeline.Policy `yaml:"oversize"`
	// Invalid applies to events a route's transform cannot convert (for the ilert
	// transform: not a JSON object, an unknown eventType or priority, a heartbeat
	// without key, a policy message without email). Empty means dead_letter.
	Invalid pipeline.Policy `yaml:"invalid"`
}

// The indicator backends.
const (
	IndicatorNone     = "none"      // no status LED
	IndicatorSysfsLED = "sysfs-led" // the Linux LED class, /sys/class/leds/<led>
	IndicatorGPIO     = "gpio"      // a line of the GPIO character device, /dev/gpiochipN
)

// Indicator is the status LED showing the blink codes of docs/leds.md.
type Indicator struct {
	// Backend drives the LED: sysfs-led, gpio or none. Empty means none.
	Backend string `yaml:"backend"`
	// LED names the device: with sysfs-led, its directory under Root ("ACT",
	// "led0", "green:status"). Required with sysfs-led. With RedLED set, it is the
	// green one.
	LED string `yaml:"led"`
	// RedLED, when set, makes the indicator bi-colour: the faults light it, the
	// warnings light amber (both, or AmberLED), the rest green (LED). Empty means a
	// single-colour LED.
	RedLED string `yaml:"red_led"`
	// AmberLED is an RGB or three-LED indicator's own amber (or yellow) device; empty
	// means amber is green and red together. Only with RedLED.
	AmberLED string `yaml:"amber_led"`
	// Root is the LED-class directory. Empty means /sys/class/leds.
	Root string `yaml:"root"`
	// Chip is, with gpio, the GPIO chip: its device name ("gpiochip0"), its path
	// ("/dev/gpiochip0") or its label ("pinctrl-bcm2711"). Empty means every chip,
	// searched for Line by name; required when a line is given by offset.
	Chip string `yaml:"chip"`
	// Line is, with gpio, the LED's line: its name ("GPIO17", as gpioinfo prints
	// it) or, all digits, its offset on Chip. Required with gpio. With RedLine set,
	// it is the green one.
	Line string `yaml:"line"`
	// RedLine and AmberLine are, with gpio, what RedLED and AmberLED are with
	// sysfs-led: the lines of a bi-colour or RGB LED's red and own amber.
	RedLine   string `yaml:"red_line"`
	AmberLine string `yaml:"amber_line"`
	// ActiveLow inverts the output, for an LED that lights when its line is low.
	ActiveLow bool `yaml:"active_low"`
	// Chosen is set when the file gives Backend (none included): the daemon warns
	// that there is no LED only when the file does not say. Not a key.
	Chosen bool `yaml:"-"`
}

// IndicatorSection decodes only the indicator section of the configuration file b,
// with its defaults, and checks it: for showing config-invalid on the LED when the
// rest of the file does not load. Other sections are not looked at, and ${VAR}
// references in it are not expanded.
func IndicatorSection(b []byte) (Indicator, error) {
	var doc struct {
		Indicator Indicator `yaml:"indicator"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return Indicator{}, err
	}
	c := doc.Indicator
	c.applyDefaults()
	if p := c.validate(); len(p) > 0 {
		return Indicator{}, errors.New(strings.Join(p, "; "))
	}
	return c, nil
}

func (c *Indicator) applyDefaults() {
	if c.Backend == "" {
		c.Backend = IndicatorNone
	} else {
		c.Chosen = true
	}
	if c.Root == "" {
		c.Root = "/sys/class/leds"
	}
}

func (c *Indicator) validate() []string {
	var p []string
	// only names the keys set that belong to another backend.
	only := func(backend string, keys ...struct{ key, v string }) {
		for _, k := range keys {
			if k.v != "" {
				p = append(p, fmt.Sprintf("indicator.%s: only with backend %s", k.key, backend))
			}
		}
	}
	sysfsKeys := []struct{ key, v string }{{"led", c.LED}, {"red_led", c.RedLED}, {"amber_led", c.AmberLED}}
	gpioKeys := []struct{ key, v string }{{"chip", c.Chip}, {"line", c.Line}, {"red_line", c.RedLine}, {"amber_line", c.AmberLine}}
	switch c.Backend {
	case IndicatorNone:
	case IndicatorSysfsLED:
		if c.LED == "" {
			p = append(p, "indicator.led: required with backend sysfs-led")
		}
		if c.AmberLED != "" && c.RedLED == "" {
			p = append(p, "indicator.amber_led: only with indicator.red_led (a bi-colour or RGB LED)")
		}
		for _, k := range sysfsKeys {
			if strings.Contains(k.v, "/") || k.v == "." || k.v == ".." {
				p = append(p, fmt.Sprintf("indicator.%s: %q is not a device name (a directory under indicator.root)", k.key, k.v))
			}
		}
		only(IndicatorGPIO, gpioKeys...)
	case IndicatorGPIO:
		p = append(p, c.validateGPIO()...)
		only(IndicatorSysfsLED, sysfsKeys...)
	default:
		p = append(p, fmt.Sprintf("indicator.backend: %q is not one of sysfs-led, gpio, none", c.Backend))
	}
	return p
}

// validateGPIO checks the gpio backend's keys: a line, offsets only with a chip,
// amber only with red, three different lines, and a chip that is a name, a /dev path
// or a label.
func (c *Indicator) validateGPIO() []string {
	var p []string
	if c.Line == "" {
		p = append(p, "indicator.line: required with backend gpio (a line name as gpioinfo prints it, or an offset with indicator.chip)")
	}
	if c.AmberLine != "" && c.RedLine == "" {
		p = append(p, "indicator.amber_line: only with indicator.red_line (a bi-colour or RGB LED)")
	}
	if strings.Contains(c.Chip, "/") && !strings.HasPrefix(c.Chip, "/dev/") {
		p = append(p, fmt.Sprintf("indicator.chip: %q is not a chip (a name like gpiochip0, its /dev path, or its label)", c.Chip))
	}
	seen := map[string]string{}
	for _, k := range []struct{ key, v string }{{"line", c.Line}, {"red_line", c.RedLine}, {"amber_line", c.AmberLine}} {
		if k.v == "" {
			continue
		}
		if isOffset(k.v) && c.Chip == "" {
			p = append(p, fmt.Sprintf("indicator.chip: required when indicator.%s is a line offset (%s); or give the line's name", k.key, k.v))
		}
		if other, dup := seen[k.v]; dup {
			p = append(p, fmt.Sprintf("indicator.%s: %q is indicator.%s already (each colour needs its own line)", k.key, k.v, other))
		}
		seen[k.v] = k.key
	}
	return p
}

// isOffset reports whether a GPIO line is given by its offset (all digits), as
// package hw/gpio reads it.
func isOffset(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Route connects sources to sinks.
type Route struct {
	// Name appears in logs. Empty means route-<index>.
	Name string `yaml:"name"`
	// From lists source names; empty means every source.
	From []string `yaml:"from"`
	// Topics lists MQTT topic filters (+, #); empty means every topic.
	Topics []string `yaml:"topics"`
	// Kinds lists event kinds; empty means all.
	Kinds []string `yaml:"kinds"`
	// To lists sink names. Required.
	To []string `yaml:"to"`
	// RequireJSON refuses payloads that are not JSON on this route.
	RequireJSON bool `yaml:"require_json"`
	// TransformNode is the raw `transform:` section: a registered transform `type`
	// (such as ilert) and its settings. Empty means events go to the sinks as they are.
	TransformNode yaml.Node `yaml:"transform"`
	// Transform is the decoded transform, nil when the route has none.
	Transform *Transform `yaml:"-"`
	line      int
}

// Line is where the route starts in the file (0 for a route built in code).
func (r Route) Line() int { return r.line }

// Transform is a route's decoded transform section.
type Transform struct {
	// Type is the registered transform type.
	Type string
	// Settings is a pointer to the transform's decoded and validated config.
	Settings any
	// Factory builds the transform.
	Factory *adapters.Factory
}

// Adapter is one configured source or sink.
type Adapter struct {
	// Name is the instance name, unique among sources or among sinks.
	Name string
	// Type is the registered adapter type ("mqtt", "webhook").
	Type string
	// Retry is a sink's retry policy.
	Retry pipeline.Retry
	// Ack is when a source acknowledges upstream: "stored" (the default: once every
	// sink has the event durably stored or delivered) or "delivered" (only once every
	// sink has delivered it; nothing is stored, and a failed delivery leaves the
	// message unacknowledged for upstream to redeliver — ilagent's non-buffered mode).
	Ack string
	// Settings is a pointer to the adapter's decoded and validated Config.
	Settings any
	// Factory builds the adapter.
	Factory *adapters.Factory
	// Line is where the section starts in the file.
	Line int
}

// Error lists every problem found in a configuration.
type Error struct {
	File     string
	Problems []string
}

func (e *Error) Error() string {
	where := e.File
	if where == "" {
		where = "built-in default configuration"
	}
	return fmt.Sprintf("invalid configuration %s:\n  - %s", where, strings.Join(e.Problems, "\n  - "))
}

// MaxFileBytes bounds a configuration file (a real one is a few KiB).
const MaxFileBytes = 4 << 20

// Load reads and checks the file at path.
func Load(path string) (*Config, error) {
	b, err := secret.ReadBounded(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(b, path)
}

// LoadDefault parses the embedded default configuration.
func LoadDefault() (*Config, error) { return Parse(DefaultYAML, "") }

// envVarRE matches a problem's subject that names an environment variable, with
// the YAML key of the same setting in parentheses (package adapters/lifecycle's
// Problem).
var envVarRE = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)(?: \(([a-z0-9_.]+)\))?$`)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Parse decodes and checks a configuration; file is used in messages only.
func Parse(b []byte, file string) (*Config, error) {
	cerr := &Error{File: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		cerr.Problems = append(cerr.Problems, syntaxProblem(b, err))
		return nil, cerr
	}
	cfg := defaults()
	cfg.File = file
	if len(doc.Content) == 0 {
		cerr.Problems = append(cerr.Problems, "line 1: the file is empty")
		return nil, cerr
	}
	cerr.Problems = append(cerr.Problems, interpolate(&doc, envLookup)...)
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: the top level must be a mapping of sections", root.Line))
		return nil, cerr
	}

	// The adapter lists decode per entry through the registry; everything else
	// decodes straight into Config.
	var srcNode, sinkNode, eventsNode *yaml.Node
	rest := &yaml.Node{Kind: yaml.MappingNode, Line: root.Line}
	seenSection := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		switch k.Value {
		case "sources", "sinks", "events":
			if first, dup := seenSection[k.Value]; dup {
				cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: %s is given twice (first at line %d)", k.Line, k.Value, first))
				continue
			}
			seenSection[k.Value] = k.Line
		}
		switch k.Value {
		case "sources":
			srcNode = root.Content[i+1]
		case "sinks":
			sinkNode = root.Content[i+1]
		case "events":
			eventsNode = root.Content[i+1]
		default:
			rest.Content = append(rest.Content, root.Content[i], root.Content[i+1])
		}
	}
	type top struct {
		Config  `yaml:",inline"`
		Sources yaml.Node `yaml:"sources"`
		Sinks   yaml.Node `yaml:"sinks"`
		Events  yaml.Node `yaml:"events"`
	}
	cerr.Problems = append(cerr.Problems, checkKeys(root, reflectTypeOf[top](), "")...)
	cerr.Problems = append(cerr.Problems, decodeChecked(rest, cfg, reflectTypeOf[top](), "")...)
	for i := range cfg.Routes {
		cfg.Routes[i].line = routeLine(rest, i)
		cfg.Routes[i].Transform = decodeTransform(&cfg.Routes[i], i, cerr)
	}
	cfg.Sources = decodeAdapters(srcNode, adapters.DirSource, cfg, cerr)
	cfg.Sinks = decodeAdapters(sinkNode, adapters.DirSink, cfg, cerr)
	decodeEvents(eventsNode, cfg, cerr)
	cfg.applyDefaults()
	if !slices.ContainsFunc(cerr.Problems, func(p string) bool { return strings.Contains(p, "already defined at line") }) {
		// (yaml leaves a mapping with a key given twice undecoded: checking what
		// is in it, or missing from it, would only add wrong problems.)
		cerr.Problems = append(cerr.Problems, cfg.validate()...)
	}
	cerr.Problems = withLines(root, cerr.Problems)
	if len(cerr.Problems) > 0 {
		return nil, cerr
	}
	return cfg, nil
}

func defaults() *Config {
	c := &Config{}
	c.Log = Log{Level: "info", Format: "text"}
	c.HTTP = web.DefaultConfig()
	c.Broker = broker.DefaultConfig()
	c.Broker.MaxMessageBytes = 0 // derived from store.max_event_bytes by applyDefaults
	c.Rejects = Rejects{Unrouted: pipeline.Drop, Oversize: pipeline.DeadLetter, Invalid: pipeline.DeadLetter}
	return c
}

func (c *Config) applyDefaults() {
	if c.Node.ID == "" {
		c.Node.ID, _ = os.Hostname()
	}
	c.Indicator.applyDefaults()
	if c.Store.Path == "" {
		if d := os.Getenv("STATE_DIRECTORY"); d != "" {
			c.Store.Path = filepath.Join(strings.Split(d, ":")[0], "queue.db")
		} else {
			c.Store.Path = "/var/lib/edgerelay/queue.db"
		}
	}
	if c.Store.CommitWindow == 0 {
		c.Store.CommitWindow = 5 * time.Millisecond
	}
	if c.Store.DeliverWindow == 0 {
		c.Store.DeliverWindow = 500 * time.Millisecond
	}
	if c.Store.MaxBatch == 0 {
		c.Store.MaxBatch = 1024
	}
	if c.Store.MaxEventBytes == 0 {
		c.Store.MaxEventBytes = 256 << 10
	}
	if c.Broker.MaxMessageBytes == 0 {
		c.Broker.MaxMessageBytes = broker.PacketLimitFor(c.Store.MaxEventBytes)
	}
	c.Store.applyBounds()
	if c.Store.MaxPending == 0 {
		c.Store.MaxPending = 512
	}
	if c.Store.MemoryItems == 0 {
		c.Store.MemoryItems = 1024
	}
	if c.Store.DrainTimeout == 0 {
		c.Store.DrainTimeout = 5 * time.Second
	}
	if c.Store.VerifyOnOpen == nil {
		t := true
		c.Store.VerifyOnOpen = &t
	}
	for i := range c.Routes {
		if c.Routes[i].Name == "" {
			c.Routes[i].Name = fmt.Sprintf("route-%d", i)
		}
	}
}

func (c *Config) validate() []string {
	var p []string
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Sprintf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p = append(p, fmt.Sprintf("log.format: %q is not one of text, json", c.Log.Format))
	}
	if c.Store.CommitWindow > time.Second {
		p = append(p, fmt.Sprintf("store.commit_window: %s is over 1s", c.Store.CommitWindow))
	}
	if c.Store.DeliverWindow > 5*time.Second {
		p = append(p, fmt.Sprintf("store.deliver_window: %s is over 5s", c.Store.DeliverWindow))
	}
	for _, pol := range []struct {
		key string
		v   pipeline.Policy
	}{{"rejects.unrouted", c.Rejects.Unrouted}, {"rejects.oversize", c.Rejects.Oversize}, {"rejects.invalid", c.Rejects.Invalid}} {
		if pol.v != pipeline.Drop && pol.v != pipeline.DeadLetter {
			p = append(p, fmt.Sprintf("%s: %q is not one of drop, dead_letter", pol.key, pol.v))
		}
	}
	for _, v := range []adapters.Validator{&c.HTTP, &c.Broker} {
		if err := v.Validate(); err != nil {
			p = append(p, splitJoined(err)...)
		}
	}
	if err := c.Broker.CheckEventLimit(c.Store.MaxEventBytes); err != nil {
		p = append(p, "broker."+err.Error())
	}
	p = append(p, c.Store.validateBounds()...)
	p = append(p, c.Indicator.validate()...)
	if c.Broker.Enabled != broker.EnabledFalse && sameListener(c.Broker.Listen, c.HTTP.Listen) {
		// With enabled: auto the broker would take the HTTP server for a site broker
		// and not start; with true, the start would fail.
		p = append(p, fmt.Sprintf("broker.listen: %s is also the address of http.listen; give each listener its own port", c.Broker.Listen))
	}
	c.Warnings = append(c.Warnings, c.Store.boundsWarnings(len(c.Sinks))...)
	srcs := map[string]bool{}
	for _, s := range c.Sources {
		if srcs[s.Name] {
			p = append(p, fmt.Sprintf("line %d: source name %q is used twice", s.Line, s.Name))
		}
		srcs[s.Name] = true
	}
	sinks := map[string]bool{}
	sinkTypes := map[string]string{}
	for _, s := range c.Sinks {
		sinkTypes[s.Name] = s.Type
		if sinks[s.Name] {
			p = append(p, fmt.Sprintf("line %d: sink name %q is used twice", s.Line, s.Name))
		}
		sinks[s.Name] = true
	}
	if len(c.Sinks) == 0 {
		p = append(p, "sinks: at least one sink is required")
	}
	p = append(p, c.useLoopIdentities()...)

	used := map[string]bool{}
	routeNames := map[string]int{}
	kinds := c.kinds()
	for i, r := range c.Routes {
		at := fmt.Sprintf("line %d: routes[%d] (%s)", r.line, i, r.Name)
		if first, ok := routeNames[r.Name]; ok {
			p = append(p, fmt.Sprintf("%s: name %q is used twice (also routes[%d])", at, r.Name, first))
		} else {
			routeNames[r.Name] = i
		}
		if len(r.To) == 0 {
			p = append(p, at+": to: at least one sink is required")
		}
		for _, s := range twice(r.From) {
			p = append(p, fmt.Sprintf("%s: from: %q is listed twice", at, s))
		}
		for _, s := range twice(r.To) {
			p = append(p, fmt.Sprintf("%s: to: %q is listed twice", at, s))
		}
		for _, k := range twice(r.Kinds) {
			p = append(p, fmt.Sprintf("%s: kinds: %q is listed twice", at, k))
		}
		for _, s := range r.From {
			if !srcs[s] {
				p = append(p, fmt.Sprintf("%s: from: no source named %q%s", at, s, suggest(s, keys(srcs))))
			}
		}
		for _, s := range r.To {
			if !sinks[s] {
				p = append(p, fmt.Sprintf("%s: to: no sink named %q%s", at, s, suggest(s, keys(sinks))))
			}
			used[s] = true
		}
		if r.Transform != nil {
			if req, ok := r.Transform.Settings.(adapters.SinkTypeRequirer); ok {
				if types, why := req.RequiredSinkTypes(); len(types) > 0 {
					for _, s := range r.To {
						if typ := sinkTypes[s]; typ != "" && !slices.Contains(types, typ) {
							p = append(p, fmt.Sprintf("%s: to: sink %q is of type %s, which cannot send what transform %s makes (%s)",
								at, s, typ, r.Transform.Type, why))
						}
					}
				}
			}
		}
		for _, k := range r.Kinds {
			if !kinds[k] {
				p = append(p, fmt.Sprintf("%s: kinds: %q is not a kind any source or transform gives (known: %s)%s",
					at, k, strings.Join(sortedKeys(kinds), ", "), suggest(k, keys(kinds))))
			}
		}
		for _, f := range r.Topics {
			if err := topic.Validate(f); err != nil {
				p = append(p, fmt.Sprintf("%s: topics: %q is not a valid MQTT topic filter: %v", at, f, err))
			}
		}
	}
	if len(c.Routes) == 0 && len(c.Sinks) > 0 {
		p = append(p, "routes: at least one route is required, or no event goes anywhere")
	}
	return p
}

// useLoopIdentities hands every sink that needs this node's loop identity (an
// adapters.LoopIdentityUser, the alerta sink) the identities of the sources that
// name one (adapters.LoopIdentifier, the alerta receiver's base_url), in config
// order, and returns its refusals at the sink's line.
func (c *Config) useLoopIdentities() []string {
	var ids []string
	for _, s := range c.Sources {
		if li, ok := s.Settings.(adapters.LoopIdentifier); ok {
			if id := li.LoopIdentity(); id != "" {
				ids = append(ids, id)
			}
		}
	}
	var p []string
	for _, s := range c.Sinks {
		if u, ok := s.Settings.(adapters.LoopIdentityUser); ok {
			if err := u.UseLoopIdentity(slices.Clone(ids)); err != nil {
				for _, e := range splitJoined(err) {
					p = append(p, fmt.Sprintf("line %d: sink %q (%s): %s", s.Line, s.Name, s.Type, e))
				}
			}
		}
	}
	return p
}

// withLines gives every problem a line: one that names none starts with the key it is
// about ("store.commit_window: …"), and gets the line of that key in root, or of the
// deepest part of it the file has, else the first line.
// Of several problems about one key of a top-level section on one line (the value checks and a section's
// own Validate may both refuse a negative timeout), only the first is kept.
func withLines(root *yaml.Node, problems []string) []string {
	out := problems[:0]
	seen := map[string]bool{}
	for _, p := range problems {
		if !strings.HasPrefix(p, "line ") && !strings.HasPrefix(p, EnvProblem) {
			key, _, _ := strings.Cut(p, ": ")
			variable := envVarRE.FindStringSubmatch(key)
			if variable != nil {
				key = variable[2] // "EVENT_BROKER_MQTT_QOS (events.mqtt.qos)": the key in the file
			}
			line := lineOf(root, key)
			switch {
			case line == 0 && variable != nil:
				// From the environment (or a default): no line of the file to name.
			case line == 0:
				p = fmt.Sprintf("line %d: %s", max(root.Line, 1), p)
			default:
				p = fmt.Sprintf("line %d: %s", line, p)
			}
		}
		if parts := strings.SplitN(p, ": ", 3); len(parts) == 3 && !strings.Contains(parts[1], " ") {
			if k := parts[0] + ": " + parts[1]; seen[k] {
				continue
			} else {
				seen[k] = true
			}
		}
		out = append(out, p)
	}
	return out
}

// builtinKinds are the event kinds of package adapters, which sources and the
// transforms give.
var builtinKinds = []string{adapters.KindAlert, adapters.KindHeartbeat, adapters.KindPolicy, adapters.KindRaw}

// kinds returns every event kind a route may match: the built-in ones and every
// kind a source's `kind:` key sets.
func (c *Config) kinds() map[string]bool {
	out := map[string]bool{}
	for _, k := range builtinKinds {
		out[k] = true
	}
	for _, s := range c.Sources {
		v := reflect.ValueOf(s.Settings)
		for v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			continue
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == "kind" && f.Type.Kind() == reflect.String && v.Field(i).String() != "" {
				out[v.Field(i).String()] = true
			}
		}
	}
	return out
}

// twice returns the values that occur more than once in list, once each.
func twice(list []string) []string {
	seen := map[string]int{}
	var out []string
	for _, s := range list {
		if seen[s]++; seen[s] == 2 {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := keys(m)
	slices.Sort(out)
	return out
}

func suggest(s string, known []string) string {
	if c := closest(s, known); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out) // closest keeps the first of equally close names: not map order
	return out
}

// decodeAdapters decodes a list of `- name: …, type: …, <adapter keys>` entries. An
// old spelling of a key is accepted with a warning added to cfg (see renamedKeys).
func decodeAdapters(n *yaml.Node, dir adapters.Direction, cfg *Config, cerr *Error) []Adapter {
	section := string(dir) + "s"
	if n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: %s must be a list", n.Line, section))
		return nil
	}
	var out []Adapter
	for i, entry := range n.Content {
		at := fmt.Sprintf("line %d: %s[%d]", entry.Line, section, i)
		if entry.Kind != yaml.MappingNode {
			cerr.Problems = append(cerr.Problems, at+": must be a mapping with name and type")
			continue
		}
		a := Adapter{Line: entry.Line}
		settings := &yaml.Node{Kind: yaml.MappingNode, Line: entry.Line}
		var retryNode *yaml.Node
		ackLine := entry.Line
		for j := 0; j+1 < len(entry.Content); j += 2 {
			k, v := entry.Content[j], entry.Content[j+1]
			switch {
			case k.Value == "name":
				a.Name = v.Value
			case k.Value == "type":
				a.Type = v.Value
			case k.Value == "retry" && dir == adapters.DirSink:
				retryNode = v
			case k.Value == "ack" && dir == adapters.DirSource:
				a.Ack, ackLine = v.Value, v.Line
				if a.Ack != AckStored && a.Ack != AckDelivered {
					cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: %s[%d].ack: %q is not one of stored, delivered", v.Line, section, i, v.Value))
				}
			default:
				settings.Content = append(settings.Content, k, v)
			}
		}
		if a.Name == "" {
			cerr.Problems = append(cerr.Problems, at+": name is required")
		} else if !nameRE.MatchString(a.Name) {
			cerr.Problems = append(cerr.Problems, fmt.Sprintf("%s: name %q may hold only letters, digits, '.', '_' and '-'", at, a.Name))
		}
		at = fmt.Sprintf("%s (%s %q)", at, a.Type, a.Name)
		if retryNode != nil {
			rpath := fmt.Sprintf("%s[%d] (%s %q).retry", section, i, a.Type, a.Name)
			cerr.Problems = append(cerr.Problems, checkKeys(retryNode, reflectTypeOf[pipeline.Retry](), rpath)...)
			rp := decodeChecked(retryNode, &a.Retry, reflectTypeOf[pipeline.Retry](), rpath)
			if len(rp) == 0 {
				rp = checkRetry(retryNode, a.Retry, rpath)
			}
			cerr.Problems = append(cerr.Problems, rp...)
		}
		f, ok := adapters.Lookup(dir, a.Type)
		if !ok {
			cerr.Problems = append(cerr.Problems, unknownType(at, dir, a.Type))
			continue
		}
		a.Factory = f
		if pr := requireAck(&a, f, fmt.Sprintf("line %d: %s[%d].ack", ackLine, section, i)); pr != "" {
			cerr.Problems = append(cerr.Problems, pr)
		}
		a.Settings = f.NewConfig()
		var problems []string
		where := fmt.Sprintf("%s[%d] (%s %q)", section, i, a.Type, a.Name)
		warnings, renameProblems := renameOldKeys(settings, reflect.TypeOf(a.Settings), where)
		cfg.Warnings = append(cfg.Warnings, warnings...)
		problems = append(problems, renameProblems...)
		problems = append(problems, checkKeys(settings, reflect.TypeOf(a.Settings), where)...)
		if len(settings.Content) > 0 {
			problems = append(problems, decodeChecked(settings, a.Settings, reflect.TypeOf(a.Settings), where)...)
		}
		if len(problems) == 0 {
			if err := f.Validate(a.Settings); err != nil {
				for _, pr := range splitJoined(err) {
					problems = append(problems, at+": "+pr)
				}
			} else if r, ok := a.Settings.(adapters.AckRequirer); ok && dir == adapters.DirSource {
				if pr := requireAckOf(&a, r.RequiredAck(), "source type "+a.Type+" with these settings", fmt.Sprintf("line %d: %s[%d].ack", ackLine, section, i)); pr != "" {
					problems = append(problems, pr)
				}
			}
		}
		cerr.Problems = append(cerr.Problems, problems...)
		out = append(out, a)
	}
	return out
}

// checkRetry refuses the retry settings the pipeline would otherwise replace
// without a word (pipeline.Retry.WithDefaults): a jitter over 1 and a max below
// initial.
func checkRetry(n *yaml.Node, r pipeline.Retry, path string) []string {
	var p []string
	if r.Jitter > 1 {
		p = append(p, fmt.Sprintf("line %d: %s.jitter: %g is over 1 (it is the fraction of each delay taken off at random)",
			lineOf(n, "jitter"), path, r.Jitter))
	}
	if r.Max > 0 && r.Max < r.Initial {
		p = append(p, fmt.Sprintf("line %d: %s.max: %s is below initial (%s)", lineOf(n, "max"), path, r.Max, r.Initial))
	}
	return p
}

// unknownType is the problem reported at at for an adapter type the registry does not
// have: one this binary was built without, or an unknown name with a suggestion.
func unknownType(at string, dir adapters.Direction, typ string) string {
	if err := adapters.NotBuiltIn(dir, typ); err != nil {
		return fmt.Sprintf("%s: type %q: %v", at, typ, err)
	}
	known := adapters.Types(dir)
	list := strings.Join(known, ", ")
	if list == "" {
		list = "none in this build"
	}
	return fmt.Sprintf("%s: type %q is not a known %s (known: %s)%s", at, typ, dir, list, suggest(typ, known))
}

// The values of a source's ack key.
const (
	AckStored    = string(adapters.AckStored)
	AckDelivered = string(adapters.AckDelivered)
)

// requireAck applies the acknowledgement a source type declares it requires
// (adapters.SourceSpec.Ack): a source that requires delivered is unbuffered whatever
// its ack key says, and an explicit `ack: stored` for it is a problem (returned,
// prefixed with at; "" when there is none).
func requireAck(a *Adapter, f *adapters.Factory, at string) string {
	return requireAckOf(a, f.Ack, "source type "+f.Type, at)
}

// requireAckOf is requireAck for the acknowledgement ack that who ("source type
// x") requires, by its type or by its settings (adapters.AckRequirer).
func requireAckOf(a *Adapter, ack adapters.Ack, who, at string) string {
	if ack != adapters.AckDelivered {
		return ""
	}
	if a.Ack == AckStored {
		return fmt.Sprintf("%s: %s requires ack: delivered (it acknowledges upstream only what was delivered)", at, who)
	}
	a.Ack = AckDelivered
	return ""
}

// decodeTransform decodes a route's `transform:` section through the registry.
func decodeTransform(r *Route, i int, cerr *Error) *Transform {
	n := &r.TransformNode
	if n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	at := fmt.Sprintf("line %d: routes[%d].transform", n.Line, i)
	if n.Kind != yaml.MappingNode {
		cerr.Problems = append(cerr.Problems, at+": must be a mapping with a type")
		return nil
	}
	t := &Transform{}
	settings := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if k, v := n.Content[j], n.Content[j+1]; k.Value == "type" {
			t.Type = v.Value
		} else {
			settings.Content = append(settings.Content, k, v)
		}
	}
	dir := adapters.DirTransform
	f, ok := adapters.Lookup(dir, t.Type)
	if !ok {
		cerr.Problems = append(cerr.Problems, unknownType(at, dir, t.Type))
		return nil
	}
	t.Factory, t.Settings = f, f.NewConfig()
	where := fmt.Sprintf("routes[%d].transform (%s)", i, t.Type)
	problems := checkKeys(settings, reflect.TypeOf(t.Settings), where)
	if len(settings.Content) > 0 {
		problems = append(problems, decodeChecked(settings, t.Settings, reflect.TypeOf(t.Settings), where)...)
	}
	if len(problems) == 0 {
		if err := f.Validate(t.Settings); err != nil {
			for _, pr := range splitJoined(err) {
				problems = append(problems, fmt.Sprintf("%s (%s): %s", at, t.Type, pr))
			}
		}
	}
	cerr.Problems = append(cerr.Problems, problems...)
	return t
}

// decodeChecked decodes n into v (of type t) and returns the problems of its values,
// each naming its line and key (checkValues); yaml's own type errors, which name only
// the line, are returned only when that check found nothing (the others, such as a
// key given twice, always).
func decodeChecked(n *yaml.Node, v any, t reflect.Type, path string) []string {
	problems := checkValues(n, t, path)
	if err := n.Decode(v); err != nil {
		for _, p := range yamlProblems(n, err) {
			if len(problems) == 0 || !strings.Contains(p, "cannot unmarshal") {
				problems = append(problems, p)
			}
		}
	}
	return problems
}

// yamlProblems splits the error of decoding n into one problem per line, each
// with its line (see decodeProblem).
func yamlProblems(n *yaml.Node, err error) []string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return te.Errors
	}
	return []string{decodeProblem(n, err)}
}

// splitJoined flattens an errors.Join tree into messages.
func splitJoined(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

func routeLine(rest *yaml.Node, i int) int {
	for j := 0; j+1 < len(rest.Content); j += 2 {
		if rest.Content[j].Value == "routes" {
			if s := rest.Content[j+1]; s.Kind == yaml.SequenceNode && i < len(s.Content) {
				return s.Content[i].Line
			}
		}
	}
	return 0
}

// sameListener reports whether two listen addresses take the same port on a common
// host (an empty or unspecified host listens on every one).
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	every := func(h string) bool { ip := net.ParseIP(h); return h == "" || ip != nil && ip.IsUnspecified() }
	return ha == hb || every(ha) || every(hb)
}
