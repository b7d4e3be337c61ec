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
	blocks := map[string]*yaml.Node{}
	if n != nil && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		if n.Kind != yaml.MappingNode {
			cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: events must be a mapping", n.Line))
			return
		}
		shared := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
		own := yamlFields(reflectTypeOf[lifecycle.Config]())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if _, ok := own[k.Value]; ok {
				shared.Content = append(shared.Content, k, v)
				continue
			}
			if _, ok := contract.Lookup(k.Value); ok {
				blocks[k.Value] = v
				continue
			}
			if _, ok := contract.Omitted(k.Value); ok {
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
		cerr.Problems = append(cerr.Problems, decodeChecked(shared, &cfg.Events, reflectTypeOf[lifecycle.Config](), "events")...)
	}
	ev := &cfg.Events
	if err := ev.ApplyEnv(EventsEnv); err != nil {
		cerr.Problems = append(cerr.Problems, splitJoined(err)...)
	}
	// Every built-in adapter's block is checked for unknown keys and values.
	var chosen *contract.Spec
	if ev.Adapter != "" {
		chosen, _ = contract.Lookup(ev.Adapter)
	}
	for name, b := range blocks {
		spec, ok := contract.Lookup(name)
		if !ok {
			continue // omitted from this binary: Validate reports it if chosen
		}
		settings := spec.NewConfig()
		path := "events." + name
		problems := checkKeys(b, reflect.TypeOf(settings), path)
		if len(problems) == 0 {
			problems = decodeChecked(b, settings, reflect.TypeOf(settings), path)
		}
		cerr.Problems = append(cerr.Problems, problems...)
		if chosen != nil && spec == chosen && len(problems) == 0 {
			if ev.Settings != nil {
				cerr.Problems = append(cerr.Problems, fmt.Sprintf("line %d: events.%s: the settings of adapter %s are given twice (by its name and an alias)",
					b.Line, name, spec.Name))
			}
			ev.Settings = settings
		}
	}
	if err := ev.Validate(); err != nil {
		cerr.Problems = append(cerr.Problems, splitJoined(err)...)
	}
	if !ev.Enabled || chosen == nil {
		return
	}
	ev.Spec = chosen
	if ev.Settings == nil {
		ev.Settings = chosen.NewConfig()
	}
	if err := ev.Settings.ApplyEnv(EventsEnv); err != nil {
		cerr.Problems = append(cerr.Problems, splitJoined(err)...)
	} else if err := ev.Settings.Validate(); err != nil {
		cerr.Problems = append(cerr.Problems, splitJoined(err)...)
	}
	for _, s := range ev.Settings.Secrets() {
		secret.Register(s)
	}
}

func boolSet[T any](m map[string]T) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
