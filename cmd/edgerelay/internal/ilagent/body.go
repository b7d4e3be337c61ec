package ilagent

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Body returns the JSON body ilagent's `event` subcommand POSTs to ilert's
// /api/events (spec §3.1): ilagent's field order, absent fields as null, <, > and &
// not escaped, no trailing newline. It is the body adapters/ilert's Event encodes
// (a test in cmd/edgerelay keeps the two equal); it is built here so that the
// one-shot command does not link the ilert adapter and hands the body to whatever
// ilert sink the binary has registered.
func (e *Event) Body() ([]byte, error) {
	type image struct {
		Src  string  `json:"src"`
		Href *string `json:"href"`
		Alt  *string `json:"alt"`
	}
	type link struct {
		Href string  `json:"href"`
		Text *string `json:"text"`
	}
	b := struct {
		IntegrationKey string          `json:"integrationKey"`
		EventType      string          `json:"eventType"`
		Summary        string          `json:"summary"`
		Details        *string         `json:"details"`
		AlertKey       *string         `json:"alertKey"`
		Priority       *string         `json:"priority"`
		Images         []image         `json:"images"`
		Links          []link          `json:"links"`
		CustomDetails  json.RawMessage `json:"customDetails"`
	}{
		IntegrationKey: e.IntegrationKey,
		EventType:      e.EventType,
		Summary:        e.Summary,
		Details:        optional(e.Details),
		AlertKey:       optional(e.AlertKey),
		Priority:       optional(e.Priority),
		CustomDetails:  json.RawMessage("null"),
	}
	if e.Image != "" {
		b.Images = []image{{Src: e.Image}}
	}
	if e.Link != "" {
		text := "Provided Url"
		b.Links = []link{{Href: e.Link, Text: &text}}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&b); err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// optional returns nil for "", else a pointer to s.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
