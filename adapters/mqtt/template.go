package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/edgerelay/edgerelay/adapters"
)

// maxTopicLen is the longest topic name MQTT can carry (a two-byte length prefix).
const maxTopicLen = 65535

// topicTemplate is a parsed sink topic: literal parts and placeholders, in order.
type topicTemplate struct {
	parts []topicPart
	fixed bool // no placeholder: the topic is parts[0].lit
}

// topicPart is one literal piece (field empty) or one placeholder.
type topicPart struct {
	lit   string
	field string // "key", "kind", "source", "topic" or "attr"
	attr  string // the attribute name of {attr:NAME}
}

// parseTopicTemplate parses a sink topic template. The literal text may not hold
// the wildcards '+' and '#', NUL, or a stray '{' or '}', and may not begin with '$'
// (broker topics, MQTT 3.1.1 §4.7.2); each placeholder must be one of {key},
// {kind}, {source}, {topic} or {attr:NAME}. The errors do not name the key: the
// caller prefixes it.
func parseTopicTemplate(s string) (topicTemplate, error) {
	var t topicTemplate
	if s == "" {
		return t, errors.New("required")
	}
	if !utf8.ValidString(s) {
		return t, errors.New("not valid UTF-8")
	}
	if len(s) > maxTopicLen {
		return t, fmt.Errorf("longer than %d bytes", maxTopicLen)
	}
	var errs []error
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		lit := rest
		if open >= 0 {
			lit = rest[:open]
		}
		if lit != "" {
			if strings.ContainsAny(lit, "+#") {
				errs = append(errs, fmt.Errorf("%q: the wildcards '+' and '#' cannot be published to", lit))
			}
			if strings.IndexByte(lit, 0) >= 0 {
				errs = append(errs, fmt.Errorf("%q: contains NUL", lit))
			}
			if strings.IndexByte(lit, '}') >= 0 {
				errs = append(errs, fmt.Errorf("%q: '}' without '{'", lit))
			}
			t.parts = append(t.parts, topicPart{lit: lit})
		}
		if open < 0 {
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			errs = append(errs, fmt.Errorf("%q: '{' without '}'", rest[open:]))
			break
		}
		name := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		switch {
		case name == "key" || name == "kind" || name == "source" || name == "topic":
			t.parts = append(t.parts, topicPart{field: name})
		case strings.HasPrefix(name, "attr:") && len(name) > len("attr:") && !strings.Contains(name, "{"):
			t.parts = append(t.parts, topicPart{field: "attr", attr: name[len("attr:"):]})
		default:
			errs = append(errs, fmt.Errorf("unknown placeholder {%s} (use {key}, {kind}, {source}, {topic} or {attr:NAME})", name))
		}
	}
	if strings.HasPrefix(s, "$") {
		errs = append(errs, errors.New("begins with '$', which is reserved for the broker's own topics"))
	}
	if err := errors.Join(errs...); err != nil {
		return topicTemplate{}, err
	}
	t.fixed = len(t.parts) == 1 && t.parts[0].field == ""
	return t, nil
}

// render builds the topic of e. A substituted value keeps its '/' (so {topic} can
// mirror a multi-level source topic), but '+', '#', NUL and other control
// characters become '_', invalid UTF-8 becomes '_', and a '$' that would begin
// the topic becomes '_': none of these can be published to. A topic that comes out
// empty or too long is an error: the event can never be published there.
func (t topicTemplate) render(e *adapters.Event) (string, error) {
	if t.fixed {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.field {
		case "":
			b.WriteString(p.lit)
		case "key":
			writeLevelValue(&b, e.Key)
		case "kind":
			writeLevelValue(&b, e.Kind)
		case "source":
			writeLevelValue(&b, e.Source)
		case "topic":
			writeLevelValue(&b, e.Topic)
		case "attr":
			writeLevelValue(&b, e.Attrs[p.attr])
		}
	}
	s := b.String()
	switch {
	case s == "":
		return "", errors.New("the topic template gives an empty topic for this event")
	case len(s) > maxTopicLen:
		return "", fmt.Errorf("the topic for this event is longer than %d bytes", maxTopicLen)
	case s[0] == '$':
		s = "_" + s[1:]
	}
	return s, nil
}

// writeLevelValue writes v with the characters a published topic may not hold
// replaced by '_'.
func writeLevelValue(b *strings.Builder, v string) {
	for i, r := range v {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(v[i:], "\uFFFD"):
			b.WriteByte('_') // a byte that is not UTF-8
		case r == '+' || r == '#' || r < 0x20 || (r >= 0x7f && r <= 0x9f):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
}
