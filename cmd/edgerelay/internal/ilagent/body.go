package ilagent

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Body returns the JSON body ilagent's `event` subcommand POSTs to ilert's
// /api/events (spec §3.1): ilagent's member order, absent fields as null, <, > and &
// not escaped, no trailing newline. It is the body adapters/ilert's Event encodes (a
// test in cmd/edgerelay keeps the two equal); it is built here so that the one-shot
// command does not link the ilert adapter and hands the body to whatever ilert sink
// the binary has registered.
func (e *Event) Body() ([]byte, error) {
	var images, links any // nil is null
	if e.Image != "" {
		img, err := object(member{"src", e.Image}, member{"href", nil}, member{"alt", nil})
		if err != nil {
			return nil, err
		}
		images = []json.RawMessage{img}
	}
	if e.Link != "" {
		l, err := object(member{"href", e.Link}, member{"text", "Provided Url"})
		if err != nil {
			return nil, err
		}
		links = []json.RawMessage{l}
	}
	return object(
		member{"integrationKey", e.IntegrationKey},
		member{"eventType", e.EventType},
		member{"summary", e.Summary},
		member{"details", optional(e.Details)},
		member{"alertKey", optional(e.AlertKey)},
		member{"priority", optional(e.Priority)},
		member{"images", images},
		member{"links", links},
		member{"customDetails", nil},
	)
}

// member is a JSON object member.
type member struct {
	name  string
	value any
}

// object encodes members as a JSON object in the order given, without escaping <,
// > and &.
func object(members ...member) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	put := func(v any) error {
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		return nil
	}
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := put(m.name); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := put(m.value); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// optional returns nil for "", else s.
func optional(s string) any {
	if s == "" {
		return nil
	}
	return s
}
