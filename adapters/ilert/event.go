package ilert

import (
	"bytes"
	"encoding/json"
	"fmt"
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
func (e *Event) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode ilert event: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
