package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Print returns the effective configuration as YAML: every section with its
// defaults applied, each source and sink with its adapter's settings, the route
// transforms and the events section with the chosen adapter's block. Fields of
// type secret.Value come out as "***"; other strings as they are (`config print
// --redact` also masks every known secret inside them, such as URL user info).
// The result loads again with Parse.
func Print(c *Config) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, v any) error {
		var n yaml.Node
		if err := n.Encode(v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if ind, ok := v.(Indicator); ok && !ind.Chosen && len(n.Content) > 1 {
			// Say that none is the default, not the file's choice: the daemon warns
			// then (a printed file loaded again has chosen it).
			n.Content[1].LineComment = "not set in the file: no status LED"
		}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &n)
		return nil
	}
	for _, s := range []struct {
		key string
		v   any
	}{{"node", c.Node}, {"log", c.Log}, {"store", c.Store}, {"http", c.HTTP}, {"broker", c.Broker}, {"rejects", c.Rejects}, {"indicator", c.Indicator}} {
		if err := add(s.key, s.v); err != nil {
			return nil, err
		}
	}
	for _, sec := range []struct {
		key  string
		list []Adapter
		sink bool
	}{{"sources", c.Sources, false}, {"sinks", c.Sinks, true}} {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, a := range sec.list {
			m, err := mapping(a.Settings)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", sec.key, a.Name, err)
			}
			head := []*yaml.Node{scalar("name"), scalar(a.Name), scalar("type"), scalar(a.Type)}
			if !sec.sink && a.Ack != "" {
				head = append(head, scalar("ack"), scalar(a.Ack))
			}
			if sec.sink {
				var r yaml.Node
				if err := r.Encode(a.Retry); err != nil {
					return nil, err
				}
				head = append(head, scalar("retry"), &r)
			}
			m.Content = append(head, m.Content...)
			seq.Content = append(seq.Content, m)
		}
		root.Content = append(root.Content, scalar(sec.key), seq)
	}
	routes := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range c.Routes {
		var n yaml.Node
		if err := n.Encode(r); err != nil {
			return nil, err
		}
		dropKey(&n, "transform")
		if r.Transform != nil {
			m, err := mapping(r.Transform.Settings)
			if err != nil {
				return nil, fmt.Errorf("route %q: %w", r.Name, err)
			}
			m.Content = append([]*yaml.Node{scalar("type"), scalar(r.Transform.Type)}, m.Content...)
			n.Content = append(n.Content, scalar("transform"), m)
		}
		routes.Content = append(routes.Content, &n)
	}
	root.Content = append(root.Content, scalar("routes"), routes)
	var ev yaml.Node
	if err := ev.Encode(c.Events); err != nil {
		return nil, err
	}
	if c.Events.Spec != nil && c.Events.Settings != nil {
		m, err := mapping(c.Events.Settings)
		if err != nil {
			return nil, fmt.Errorf("events.%s: %w", c.Events.Spec.Name, err)
		}
		ev.Content = append(ev.Content, scalar(c.Events.Spec.Name), m)
	}
	root.Content = append(root.Content, scalar("events"), &ev)
	return yaml.Marshal(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}})
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

// mapping encodes v (an adapter's settings) as a mapping node.
func mapping(v any) (*yaml.Node, error) {
	var n yaml.Node
	if v != nil {
		if err := n.Encode(v); err != nil {
			return nil, err
		}
	}
	if n.Kind != yaml.MappingNode {
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	return &n, nil
}

// dropKey removes key from the mapping n.
func dropKey(n *yaml.Node, key string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return
		}
	}
}
