package ilert

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/edgerelay/edgerelay/adapters/ilert/internal/jsonscan"
)

// Event is the body of an ilert Events API call (spec §3.1) in ilagent's field order,
// absent fields as null. The payload mapping and the HTTP ingest build this one type,
// so what they send is the same; the one-shot `edgerelay event` command, which must not
// link this package, builds the same body (ilagent.Event.Body, held equal by a test).
type Event struct {
	IntegrationKey string          `json:"integrationKey"`
	EventType      string          `json:"eventType"`
	Summary        string          `json:"summary"`
	Details        *string         `json:"details"`
	AlertKey       *string         `json:"alertKey"`
	Priority       *string         `json:"priority"`
	Images         []Image         `json:"images"`
	Links          []Link          `json:"links"`
	CustomDetails  json.RawMessage `json:"customDetails"`
}

// Image is an entry of an event's images.
type Image struct {
	Src  string  `json:"src"`
	Href *string `json:"href"`
	Alt  *string `json:"alt"`
}

// Link is an entry of an event's links.
type Link struct {
	Href string  `json:"href"`
	Text *string `json:"text"`
}

// Encode renders e as JSON without escaping <, > and & (ilagent does not) and without
// a trailing newline. A nil CustomDetails is written as null.
//
// The bytes are those of a json.Encoder with SetEscapeHTML(false) (CustomDetails
// compacted, strings escaped alike), written by hand in one buffer: the mapping runs
// it for every event, and the reflection-driven encoder cost a dozen allocations.
func (e *Event) Encode() ([]byte, error) {
	n := 160 + len(e.IntegrationKey) + len(e.EventType) + len(e.Summary) + len(e.CustomDetails) +
		optLen(e.Details) + optLen(e.AlertKey) + optLen(e.Priority)
	b := make([]byte, 0, n)
	b = append(b, `{"integrationKey":`...)
	b = appendString(b, e.IntegrationKey)
	b = append(b, `,"eventType":`...)
	b = appendString(b, e.EventType)
	b = append(b, `,"summary":`...)
	b = appendString(b, e.Summary)
	b = append(b, `,"details":`...)
	b = appendOpt(b, e.Details)
	b = append(b, `,"alertKey":`...)
	b = appendOpt(b, e.AlertKey)
	b = append(b, `,"priority":`...)
	b = appendOpt(b, e.Priority)
	b = append(b, `,"images":`...)
	b = appendArray(b, e.Images, func(b []byte, im Image) []byte {
		b = append(b, `{"src":`...)
		b = appendString(b, im.Src)
		b = append(b, `,"href":`...)
		b = appendOpt(b, im.Href)
		b = append(b, `,"alt":`...)
		return append(appendOpt(b, im.Alt), '}')
	})
	b = append(b, `,"links":`...)
	b = appendArray(b, e.Links, func(b []byte, l Link) []byte {
		b = append(b, `{"href":`...)
		b = appendString(b, l.Href)
		b = append(b, `,"text":`...)
		return append(appendOpt(b, l.Text), '}')
	})
	b = append(b, `,"customDetails":`...)
	switch info, ok := jsonscan.Valid(e.CustomDetails); {
	case e.CustomDetails == nil:
		b = append(b, "null"...)
	case !ok:
		return nil, fmt.Errorf("encode ilert event: customDetails is not valid JSON")
	case info.Spaced:
		b = appendCompact(b, e.CustomDetails)
	default:
		b = append(b, e.CustomDetails...) // compact already, most often
	}
	return append(b, '}'), nil
}

// acceptEvent reports whether body passes CheckEvent, and returns its integration
// key, reading it in one pass without copying it. It refuses what it cannot vouch
// for (also bodies gjson accepts and encoding/json does not, nested too deep), for
// CheckEvent to decide and say why.
func acceptEvent(body []byte) (string, bool) {
	var et, pr, key jsonscan.Value
	_, ok := jsonscan.Members(body, func(k, v jsonscan.Value) {
		// The first of a repeated name counts, as for a gjson path.
		switch {
		case k.Is(body, "eventType") && et.Kind == 0:
			et = v
		case k.Is(body, "priority") && pr.Kind == 0:
			pr = v
		case k.Is(body, "integrationKey") && key.Kind == 0:
			key = v
		}
	})
	switch {
	case !ok, et.Kind != jsonscan.String, !oneOf(body, et, "ALERT", "ACCEPT", "RESOLVE", "COMMENT"):
		return "", false
	case pr.Kind == jsonscan.String && !oneOf(body, pr, "HIGH", "LOW"):
		return "", false
	case pr.Kind != 0 && pr.Kind != jsonscan.Null && pr.Kind != jsonscan.String:
		return "", false
	}
	switch key.Kind {
	case 0, jsonscan.Null:
		return "", true
	case jsonscan.String:
		return jsonscan.Unquote(string(body[key.Start:key.End])), true
	}
	return "", false
}

// oneOf reports whether v, a String in body, is one of names.
func oneOf(body []byte, v jsonscan.Value, names ...string) bool {
	for _, n := range names {
		if v.Is(body, n) {
			return true
		}
	}
	return false
}

// appendArray appends xs as a JSON array of elements written by f, or null for nil.
func appendArray[T any](b []byte, xs []T, f func([]byte, T) []byte) []byte {
	if xs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = f(b, x)
	}
	return append(b, ']')
}

func optLen(s *string) int {
	if s == nil {
		return 4
	}
	return len(*s) + 2
}

// appendOpt appends *s as a JSON string, or null.
func appendOpt(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendString appends s as a JSON string escaped as encoding/json does with HTML
// escaping off: quote, backslash and control characters escaped (\b \f \n \r \t
// or \u00XX), invalid UTF-8 replaced by \ufffd, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendCompact appends raw, which must be valid JSON, without the white space
// between its tokens, as json.Compact does.
func appendCompact(b, raw []byte) []byte {
	inString, escaped := false, false
	start := 0
	for i, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			b = append(b, raw[start:i]...)
			start = i + 1
		}
	}
	return append(b, raw[start:]...)
}
