package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	contract "github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/daemon/lifecycle"
)

// EventsEnv is where the seed's EVENT_BROKER_* variables (and CORE_NAME) come from:
// the process environment; a variable for tests to replace.
var EventsEnv contract.Env = contract.OSEnv

// decodeEvents decodes the events: section n (nil when absent) into cfg.Events and
// applies the variables, which win over the file. The adapter block
// events.<adapter> of the chosen adapter (by its name or an alias) decodes strictly
// into the adapter's own config; a block of another adapter built into this binary
// is checked for unknown keys, so a switch by EVENT_BROKER_ADAPTER finds it sound.
func decodeEvents(n *yaml.Node, cfg *Config, cerr *Error) {
	cfg.Events = lifecycle.Defaults()
	ev := &cfg.Events
	registerEventSecrets()
	blocks := map[string]*yaml.Node{}
	if n != nil && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		ev.Line = n.Line
		if n.Kind != yaml.MappingNode {
			cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: events must be a mapping", n.Line))
			return
		}
		shared := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
		own := yamlFields(reflectTypeOf[lifecycle.Config]())
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if first, dup := seen[k.Value]; dup {
				cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: events.%s is given twice (first at line %d)", k.Line, k.Value, first))
				continue
			}
			seen[k.Value] = k.Line
			if _, ok := own[k.Value]; ok {
				shared.Content = append(shared.Content, k, v)
				continue
			}
			_, built := contract.Lookup(k.Value)
			if _, omitted := contract.Omitted(k.Value); built || omitted {
				blocks[k.Value] = v
				continue
			}
			known := append(keys(boolSet(own)), contract.Known()...)
			msg := fmt.Sprintf("line %d: unknown key %q in events", k.Line, k.Value)
			if s := closest(k.Value, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += " (known keys: " + strings.Join(sortedKeys(boolSet(own)), ", ") + ", and one block per adapter: " +
					strings.Join(contract.Known(), ", ") + ")"
			}
			cerr.Problems = append(cerr.Problems, msg)
		}
		cerr.Problems = append(cerr.Problems, decodeChecked(shared, ev, reflectTypeOf[lifecycle.Config](), "events")...)
	}
	ev.Adapter = strings.ToLower(strings.TrimSpace(ev.Adapter))
	if err := ev.ApplyEnv(EventsEnv); err != nil {
		cerr.Problems = append(cerr.Problems, fromEnv(splitJoined(err))...)
	}
	// Every built-in adapter's block is checked for unknown keys and the types of its
	// values. What its values refer to (files) is the chosen adapter's Validate's, on
	// the values the variables leave: a block only kept for a switch by
	// EVENT_BROKER_ADAPTER, or overridden by a variable, cannot stop the start.
	var chosen *contract.Spec
	if ev.Adapter != "" {
		chosen, _ = contract.Lookup(ev.Adapter)
	}
	blockBad := false
	for name, b := range blocks {
		spec, ok := contract.Lookup(name)
		if !ok {
			continue // omitted from this binary: Validate reports it if chosen
		}
		settings := spec.NewConfig()
		path := "events." + name
		problems := checkKeys(b, reflect.TypeOf(settings), path)
		if len(problems) == 0 {
			if err := b.Decode(settings); err != nil {
				problems = yamlProblems(b, err)
			}
		}
		cerr.Problems = append(cerr.Problems, problems...)
		if chosen == nil || spec != chosen {
			continue
		}
		blockBad = blockBad || len(problems) > 0
		if ev.Settings != nil {
			cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: events.%s: the settings of adapter %s are given twice (by its name and an alias)",
				b.Line, name, spec.Name))
		}
		ev.Settings = settings
	}
	if err := ev.Validate(); err != nil {
		cerr.Problems = append(cerr.Problems, fromEnv(splitJoined(err))...)
	}
	if !ev.Enabled || chosen == nil {
		ev.Settings = nil
		return
	}
	ev.Spec = chosen
	if blockBad {
		return // checking the defaults instead would only add wrong problems
	}
	if ev.Settings == nil {
		ev.Settings = chosen.NewConfig()
	}
	if err := ev.Settings.ApplyEnv(EventsEnv); err != nil {
		cerr.Problems = append(cerr.Problems, fromEnv(splitJoined(err))...)
	} else if err := ev.Settings.Validate(); err != nil {
		cerr.Problems = append(cerr.Problems, fromEnv(splitJoined(err))...)
	}
	for _, s := range ev.Settings.Secrets() {
		secret.Register(s)
	}
}

// registerEventSecrets registers the secrets every built-in lifecycle adapter
// would take from the environment, whether publishing is on and whichever adapter
// is chosen: a variable such as EVENT_BROKER_KAFKA_PASSWORD is a secret of the
// process either way, kept from logs and from the environment of scripts.
func registerEventSecrets() {
	for _, name := range contract.Names() {
		spec, _ := contract.Lookup(name)
		c := spec.NewConfig()
		_ = c.ApplyEnv(EventsEnv)
		for _, s := range c.Secrets() {
			secret.Register(s)
		}
	}
}

// EnvProblem starts a problem about a value that came from the environment: such a
// problem has no line of the file (withLines leaves it as it is).
const EnvProblem = "environment: "

// fromEnv marks the problems whose variable the environment sets.
func fromEnv(problems []string) []string {
	for i, p := range problems {
		subject, _, _ := strings.Cut(p, ": ")
		if m := envVarRE.FindStringSubmatch(subject); m != nil {
			if v, ok := EventsEnv(m[1]); ok && strings.TrimSpace(v) != "" {
				problems[i] = EnvProblem + p
			}
		}
	}
	return problems
}

func boolSet[T any](m map[string]T) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
