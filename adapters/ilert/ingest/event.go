package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/edgerelay/edgerelay/adapters/ilert"
)

// Event is an ilert event as POST /api/events takes it and as ilagent stored and
// echoed it: the ilert sink's wire type. Its JSON form, with absent fields as null and
// the key always named integrationKey, is both the 200 answer and the published
// payload.
type Event = ilert.Event

// Image is an entry of an event's images.
type Image = ilert.Image

// Link is an entry of an event's links.
type Link = ilert.Link

// ValidationError is a well-formed body with a value ilert does not support; the
// handler answers it with 400 and {"error": Message}.
type ValidationError struct {
	// Field is "eventType" or "priority".
	Field string
}

// Error returns ilagent's message, "Unsupported value for field '<field>'.".
func (e *ValidationError) Error() string {
	return "Unsupported value for field '" + e.Field + "'."
}

// validationMessage returns the JSON error message for a ValidationError.
func validationMessage(err error) (string, bool) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Error(), true
	}
	return "", false
}

// canonical maps accepted field names to the field they fill: apiKey is an alias of
// integrationKey (serde's alias, so both together are a duplicate field).
var canonical = map[string]string{
	"integrationKey": "integrationKey",
	"apiKey":         "integrationKey",
	"eventType":      "eventType",
	"summary":        "summary",
	"details":        "details",
	"alertKey":       "alertKey",
	"priority":       "priority",
	"images":         "images",
	"links":          "links",
	"customDetails":  "customDetails",
}

// Decode parses a POST /api/events body as ilagent's JSON extractor (serde) does: a
// single UTF-8 JSON object; integrationKey (or apiKey), eventType and summary
// required strings; details, alertKey and priority strings or null; images and links
// null or arrays of objects with a string src / href and optional string href, alt /
// text; customDetails any JSON; unknown fields ignored; a field given twice refused.
// It then checks eventType (ALERT, ACCEPT, RESOLVE, COMMENT) and priority (HIGH, LOW
// or null), returning a *ValidationError when they are unsupported.
func Decode(body []byte) (*Event, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("body is not valid UTF-8")
	}
	fields, err := topLevel(body)
	if err != nil {
		return nil, err
	}
	ev := &Event{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"integrationKey", &ev.IntegrationKey}, {"eventType", &ev.EventType}, {"summary", &ev.Summary}} {
		raw, ok := fields[f.name]
		if !ok {
			return nil, fmt.Errorf("missing field `%s`", f.name)
		}
		if err := strictString(raw, f.dst); err != nil {
			return nil, fmt.Errorf("field `%s`: %w", f.name, err)
		}
	}
	for _, f := range []struct {
		name string
		dst  **string
	}{{"details", &ev.Details}, {"alertKey", &ev.AlertKey}, {"priority", &ev.Priority}} {
		if *f.dst, err = optString(fields[f.name]); err != nil {
			return nil, fmt.Errorf("field `%s`: %w", f.name, err)
		}
	}
	if ev.Images, err = decodeImages(fields["images"]); err != nil {
		return nil, err
	}
	if ev.Links, err = decodeLinks(fields["links"]); err != nil {
		return nil, err
	}
	if raw := fields["customDetails"]; raw != nil && !isNull(raw) {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, fmt.Errorf("field `customDetails`: %w", err)
		}
		ev.CustomDetails = b.Bytes()
	}
	switch ev.EventType {
	case "ALERT", "ACCEPT", "RESOLVE", "COMMENT":
	default:
		return nil, &ValidationError{Field: "eventType"}
	}
	if ev.Priority != nil && *ev.Priority != "HIGH" && *ev.Priority != "LOW" {
		return nil, &ValidationError{Field: "priority"}
	}
	return ev, nil
}

// topLevel splits a JSON object into its known fields (by canonical name), refusing
// trailing data and a known field given twice.
func topLevel(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("expected a JSON object: %w", eofErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("invalid type: expected a JSON object")
	}
	fields := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, eofErr(err)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, eofErr(err)
		}
		c, known := canonical[name]
		if !known {
			continue
		}
		if _, dup := fields[c]; dup {
			return nil, fmt.Errorf("duplicate field `%s`", c)
		}
		fields[c] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, eofErr(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing characters after the JSON object")
	}
	return fields, nil
}

// eofErr names a premature end of the body.
func eofErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("EOF while parsing a value")
	}
	return err
}

// isNull reports whether raw is the JSON null.
func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// strictString decodes raw as a JSON string (null refused).
func strictString(raw json.RawMessage, dst *string) error {
	if isNull(raw) || json.Unmarshal(raw, dst) != nil {
		return errors.New("invalid type: expected a string")
	}
	return nil
}

// optString decodes raw as a JSON string or null; a missing field (nil) is null.
func optString(raw json.RawMessage) (*string, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	var s string
	if err := strictString(raw, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// objects decodes raw as null or an array of JSON objects.
func objects(name string, raw json.RawMessage) ([]map[string]json.RawMessage, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	var arr []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || arr == nil {
		return nil, fmt.Errorf("field `%s`: invalid type: expected an array of objects", name)
	}
	for i, o := range arr {
		if o == nil {
			return nil, fmt.Errorf("field `%s[%d]`: invalid type: expected an object", name, i)
		}
	}
	return arr, nil
}

// member reads the string member name of the object o at where.
func member(o map[string]json.RawMessage, where, name string, required bool) (*string, error) {
	raw, ok := o[name]
	if !ok && required {
		return nil, fmt.Errorf("field `%s`: missing field `%s`", where, name)
	}
	if required {
		var s string
		if err := strictString(raw, &s); err != nil {
			return nil, fmt.Errorf("field `%s.%s`: %w", where, name, err)
		}
		return &s, nil
	}
	s, err := optString(raw)
	if err != nil {
		return nil, fmt.Errorf("field `%s.%s`: %w", where, name, err)
	}
	return s, nil
}

// decodeImages decodes images: objects with a string src and optional href and alt.
func decodeImages(raw json.RawMessage) ([]Image, error) {
	arr, err := objects("images", raw)
	if arr == nil {
		return nil, err
	}
	out := make([]Image, len(arr))
	for i, o := range arr {
		where := fmt.Sprintf("images[%d]", i)
		src, err := member(o, where, "src", true)
		if err != nil {
			return nil, err
		}
		out[i].Src = *src
		if out[i].Href, err = member(o, where, "href", false); err != nil {
			return nil, err
		}
		if out[i].Alt, err = member(o, where, "alt", false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeLinks decodes links: objects with a string href and optional text.
func decodeLinks(raw json.RawMessage) ([]Link, error) {
	arr, err := objects("links", raw)
	if arr == nil {
		return nil, err
	}
	out := make([]Link, len(arr))
	for i, o := range arr {
		where := fmt.Sprintf("links[%d]", i)
		href, err := member(o, where, "href", true)
		if err != nil {
			return nil, err
		}
		out[i].Href = *href
		if out[i].Text, err = member(o, where, "text", false); err != nil {
			return nil, err
		}
	}
	return out, nil
}
