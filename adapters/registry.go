package adapters

import (
	"fmt"
	"sort"
	"sync"
)

// Direction says whether a registered adapter is a source or a sink.
type Direction string

// The two directions.
const (
	DirSource    Direction = "source"
	DirSink      Direction = "sink"
	DirTransform Direction = "transform"
)

// Validator is implemented by adapter configs that check themselves. Validate reports
// every problem at once (errors.Join), each naming its YAML key.
type Validator interface {
	Validate() error
}

// AckRequirer is implemented by a source config whose settings decide the least
// acknowledgement the source requires, beyond its type's SourceSpec.Ack (the
// ilert_edge source in its HA mode). The daemon's config loader asks it after
// Validate: AckDelivered makes the source unbuffered as SourceSpec.Ack does, and an
// explicit `ack: stored` is refused; anything else changes nothing.
type AckRequirer interface {
	RequiredAck() Ack
}

// SinkTypeRequirer is implemented by a transform's config whose output only some
// sink types can send (the ilert transform with event_key names the key by a
// reference that only the ilert sink resolves). The daemon's config loader refuses
// a route of the transform to a sink of another type, with why as the reason. Nil
// means any sink.
type SinkTypeRequirer interface {
	RequiredSinkTypes() (types []string, why string)
}

// LoopIdentifier is implemented by a source config that names this node in a
// federation's loop prevention (the alerta receiver: its base_url, the X-Alerta-Loop
// identity). The config loader collects every non-empty identity, in config order,
// and hands them to each LoopIdentityUser.
type LoopIdentifier interface {
	LoopIdentity() string
}

// LoopIdentityUser is implemented by a sink config that needs this node's loop
// identity (the alerta sink appends it to X-Alerta-Loop). The config loader calls
// UseLoopIdentity after decoding, with the identities of every LoopIdentifier
// source in config order (possibly none); the sink keeps the one it needs. An error
// is a configuration problem reported at the sink's line (a forwarding node with no
// identity would send alerts its peers send straight back).
type LoopIdentityUser interface {
	UseLoopIdentity(ids []string) error
}

// SinkSpec registers a sink type whose configuration is C.
type SinkSpec[C any] struct {
	// Summary is one line for `edgerelay version` and the docs.
	Summary string
	// Sample is a YAML example of the sink's settings (the adapter's sample.yaml).
	Sample string
	// Defaults returns a config with every default filled in. Nil means C's zero value.
	Defaults func() C
	// New builds the sink from a decoded and validated config. It must not connect.
	New func(cfg C, d Deps) (Sink, error)
	// Info describes how the daemon may drive the sink.
	Info Info
}

// SourceSpec registers a source type whose configuration is C.
type SourceSpec[C any] struct {
	Summary string
	Sample  string
	// Ready names the health conditions the source sets that must all hold before the
	// daemon tells systemd it is ready ("connected", "subscriptions_ready"). Until the
	// source first sets them they count as failing. Empty means the source is ready
	// once it runs.
	Ready    []string
	Defaults func() C
	// New builds the source from a decoded and validated config. It must not connect.
	New func(cfg C, d Deps) (Source, error)
	// Ack is the least acknowledgement the source requires. Empty means AckStored:
	// the YAML ack key decides. AckDelivered: the source's upstream must see an
	// acknowledgement only for delivered events, and a configuration asking
	// `ack: stored` for it is refused.
	Ack Ack
}

// TransformSpec registers a route transform whose configuration is C.
type TransformSpec[C any] struct {
	Summary  string
	Sample   string
	Defaults func() C
	// New builds the transform from a decoded and validated config.
	New func(cfg C, d Deps) (Transform, error)
}

// Factory is a registered adapter type with its configuration erased. The daemon's
// config loader uses it: NewConfig, decode the YAML section into the pointer strictly,
// Validate, then Build.
type Factory struct {
	Type    string
	Dir     Direction
	Summary string
	Sample  string
	Info    Info
	// Ack is SourceSpec.Ack.
	Ack Ack
	// Ready is SourceSpec.Ready.
	Ready     []string
	newConfig func() any
	build     func(cfg any, d Deps) (any, error)
}

// NewConfig returns a pointer to a fresh config with defaults applied, ready to decode
// into.
func (f *Factory) NewConfig() any { return f.newConfig() }

// Validate runs the config's Validate method if it has one.
func (f *Factory) Validate(cfg any) error {
	if v, ok := cfg.(Validator); ok {
		return v.Validate()
	}
	return nil
}

// BuildSink constructs a sink from a config returned by NewConfig.
func (f *Factory) BuildSink(cfg any, d Deps) (Sink, error) {
	if f.Dir != DirSink {
		return nil, fmt.Errorf("%s is a %s, not a sink", f.Type, f.Dir)
	}
	v, err := f.build(cfg, d)
	if err != nil {
		return nil, err
	}
	return v.(Sink), nil
}

// BuildSource constructs a source from a config returned by NewConfig.
func (f *Factory) BuildSource(cfg any, d Deps) (Source, error) {
	if f.Dir != DirSource {
		return nil, fmt.Errorf("%s is a %s, not a source", f.Type, f.Dir)
	}
	v, err := f.build(cfg, d)
	if err != nil {
		return nil, err
	}
	return v.(Source), nil
}

// BuildTransform constructs a transform from a config returned by NewConfig.
func (f *Factory) BuildTransform(cfg any, d Deps) (Transform, error) {
	if f.Dir != DirTransform {
		return nil, fmt.Errorf("%s is a %s, not a transform", f.Type, f.Dir)
	}
	v, err := f.build(cfg, d)
	if err != nil {
		return nil, err
	}
	return v.(Transform), nil
}

var (
	regMu sync.RWMutex // guards registry
	// registry maps direction+"/"+type to its factory.
	registry = map[string]*Factory{}
)

func register(f *Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	k := string(f.Dir) + "/" + f.Type
	if _, dup := registry[k]; dup {
		panic("adapters: " + k + " registered twice")
	}
	registry[k] = f
}

func newConfigFunc[C any](defaults func() C) func() any {
	return func() any {
		c := new(C)
		if defaults != nil {
			*c = defaults()
		}
		return c
	}
}

// RegisterSink registers a sink type. Call it from the adapter package's init; it
// panics if typ is already registered as a sink.
func RegisterSink[C any](typ string, spec SinkSpec[C]) {
	register(&Factory{
		Type: typ, Dir: DirSink, Summary: spec.Summary, Sample: spec.Sample, Info: spec.Info,
		newConfig: newConfigFunc(spec.Defaults),
		build: func(cfg any, d Deps) (any, error) {
			c, ok := cfg.(*C)
			if !ok {
				return nil, fmt.Errorf("sink %s: config is %T, want %T", typ, cfg, c)
			}
			return spec.New(*c, d)
		},
	})
}

// RegisterTransform registers a route transform type. Call it from the package's
// init; it panics if typ is already registered as a transform.
func RegisterTransform[C any](typ string, spec TransformSpec[C]) {
	register(&Factory{
		Type: typ, Dir: DirTransform, Summary: spec.Summary, Sample: spec.Sample,
		newConfig: newConfigFunc(spec.Defaults),
		build: func(cfg any, d Deps) (any, error) {
			c, ok := cfg.(*C)
			if !ok {
				return nil, fmt.Errorf("transform %s: config is %T, want %T", typ, cfg, c)
			}
			return spec.New(*c, d)
		},
	})
}

// RegisterSource registers a source type. Call it from the adapter package's init; it
// panics if typ is already registered as a source.
func RegisterSource[C any](typ string, spec SourceSpec[C]) {
	register(&Factory{
		Type: typ, Dir: DirSource, Summary: spec.Summary, Sample: spec.Sample, Ready: spec.Ready, Ack: spec.Ack,
		newConfig: newConfigFunc(spec.Defaults),
		build: func(cfg any, d Deps) (any, error) {
			c, ok := cfg.(*C)
			if !ok {
				return nil, fmt.Errorf("source %s: config is %T, want %T", typ, cfg, c)
			}
			return spec.New(*c, d)
		},
	})
}

// Lookup returns the factory registered for dir and typ.
func Lookup(dir Direction, typ string) (*Factory, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	f, ok := registry[string(dir)+"/"+typ]
	return f, ok
}

// Registered returns every registered factory, sorted by direction then type.
func Registered() []*Factory {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]*Factory, 0, len(registry))
	for _, f := range registry {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dir != out[j].Dir {
			return out[i].Dir < out[j].Dir
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// Types returns the registered type names for dir, sorted.
func Types(dir Direction) []string {
	var out []string
	for _, f := range Registered() {
		if f.Dir == dir {
			out = append(out, f.Type)
		}
	}
	return out
}
