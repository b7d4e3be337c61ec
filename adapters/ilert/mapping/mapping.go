package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert"
)

// Event types and priorities the ilert events API accepts.
const (
	TypeAlert   = "ALERT"
	TypeAccept  = "ACCEPT"
	TypeResolve = "RESOLVE"
	TypeComment = "COMMENT"

	PriorityHigh = "HIGH"
	PriorityLow  = "LOW"
)

// Paths of the events API per consumer, relative to the API host; the integration key
// is appended (ilagent §3.1).
const (
	PathMQTT  = "/api/v1/events/mqtt/"
	PathKafka = "/api/v1/events/kafka/"
)

// Result is the outcome of mapping one message.
type Result struct {
	// Skip is true when the message is dropped on purpose (invalid payload or filtered
	// out): the caller acknowledges it and sends nothing.
	Skip bool
	// Filtered is true when the message was skipped by filter_key/filter_val, false
	// when it was skipped because it is not a valid ilert event payload.
	Filtered bool
	// Reason says why the message was skipped.
	Reason string
	// Body is the ilert event JSON (§3.1): integrationKey, eventType, summary, details,
	// alertKey, priority, images, links, customDetails, absent fields as null.
	Body []byte
	// IntegrationKey is the body's integrationKey.
	IntegrationKey string
	// AlertKey is the body's alertKey, "" when it is null.
	AlertKey string
	// EventType is the body's eventType.
	EventType string
	// Path is the events API path with the escaped integration key appended.
	Path string
	// Warnings lists mappings that did not apply (a path whose value is not a string),
	// for the caller to log.
	Warnings []string
}

// Map maps an MQTT message received on topic (spec §6 "Mapping a payload to an
// event"). A skipped message has Skip set and a nil error. An event whose type or
// priority the ilert API would refuse returns an error marked [adapters.Permanent]
// (to be dead-lettered, not sent), together with the Result as far as it was mapped.
func Map(c Config, topic string, payload []byte) (Result, error) {
	return mapMessage(c, topic, payload, func() json.RawMessage {
		def, _ := json.Marshal(struct {
			Topic string `json:"topic"`
		}{topic})
		return def
	}, PathMQTT)
}

// MapKafka maps a Kafka message as Map does; only the default customDetails
// ({"messageKey":…,"topic":…}) and the path differ (spec §7).
func MapKafka(c Config, topic, messageKey string, payload []byte) (Result, error) {
	return mapMessage(c, topic, payload, func() json.RawMessage {
		def, _ := json.Marshal(struct {
			MessageKey string `json:"messageKey"`
			Topic      string `json:"topic"`
		}{messageKey, topic})
		return def
	}, PathKafka)
}

func skip(format string, a ...any) (Result, error) {
	return Result{Skip: true, Reason: fmt.Sprintf(format, a...)}, nil
}

// The top-level members of a payload that the mapping reads, indexes into members.
const (
	mIntegrationKey = iota
	mAPIKey
	mEventType
	mSummary
	mDetails
	mAlertKey
	mPriority
	mImages
	mLinks
	mCustomDetails
	nMembers
)

// memberNames are the JSON names of the members, by index.
var memberNames = [nMembers]string{"integrationKey", "apiKey", "eventType", "summary", "details", "alertKey", "priority", "images", "links", "customDetails"}

// members holds the members of a payload found in one pass, by index; a member
// given twice counts with its last value, as in a decoded map.
type members [nMembers]gjson.Result

// scan reads the members of payload, a valid JSON object, in one pass without
// decoding it into a map: the mapping runs for every event.
func scan(payload []byte) (m members, ok bool) {
	if !json.Valid(payload) {
		return m, false
	}
	root := gjson.ParseBytes(payload)
	if !root.IsObject() {
		return m, false
	}
	root.ForEach(func(k, v gjson.Result) bool {
		for i, name := range memberNames {
			if k.Str == name {
				m[i] = v
				break
			}
		}
		return true
	})
	return m, true
}

// decode decodes payload, a valid JSON object, into a map of its members.
func decode(payload []byte) map[string]json.RawMessage {
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(payload, &obj) // scan checked it
	return obj
}

// raw returns the member's JSON text, nil when absent.
func raw(v gjson.Result) json.RawMessage {
	if !v.Exists() {
		return nil
	}
	return json.RawMessage(v.Raw)
}

// mapMessage maps payload; defaultDetails makes the customDetails of a payload that
// has none (only then: it allocates).
func mapMessage(c Config, topic string, payload []byte, defaultDetails func() json.RawMessage, path string) (Result, error) {
	if !utf8.Valid(payload) {
		return skip("payload is not valid UTF-8")
	}
	fields, ok := scan(payload)
	if !ok {
		// Not a JSON object: let encoding/json say why, as the reason always did.
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(payload, &obj); err != nil {
			return skip("payload is not a JSON object: %v", err)
		}
		return skip("payload is not a JSON object: null")
	}
	// The decoded map is needed only by filter_key and the map_key_* paths, which
	// fall back to literal top-level keys.
	var obj map[string]json.RawMessage
	if c.FilterKey != "" || c.MapKeyAlertKey != "" || c.MapKeySummary != "" || c.MapKeyPriority != "" || c.MapKeyEtype != "" {
		obj = decode(payload)
	}
	var (
		res Result
		b   ilert.Event
		err error
	)
	var strs [nMembers]string // escapes once for every string member, not once each
	str := func(i int) *string {
		switch v := fields[i]; {
		case err != nil, !v.Exists(), v.Type == gjson.Null:
			return nil
		case v.Type != gjson.String:
			err = fmt.Errorf("field %s is not a string", memberNames[i])
			return nil
		default:
			strs[i] = v.Str
			return &strs[i]
		}
	}
	key, apiKey := str(mIntegrationKey), str(mAPIKey)
	etype, summary := str(mEventType), str(mSummary)
	b.Details, b.AlertKey, b.Priority = str(mDetails), str(mAlertKey), str(mPriority)
	if err == nil {
		b.Images, err = images(raw(fields[mImages]))
	}
	if err == nil {
		b.Links, err = links(raw(fields[mLinks]))
	}
	if err != nil {
		return skip("payload is not an ilert event: %v", err)
	}

	if reason, out := filteredOut(c, payload, obj); out {
		return Result{Skip: true, Filtered: true, Reason: reason}, nil
	}

	switch {
	case c.EventKey != "":
		b.IntegrationKey = c.EventKey
	case key != nil:
		b.IntegrationKey = *key
		if apiKey != nil && *apiKey != *key {
			res.Warnings = append(res.Warnings, "payload has both integrationKey and apiKey; used integrationKey")
		}
	case apiKey != nil:
		b.IntegrationKey = *apiKey
	}
	mapStr := func(flag, p string, dst **string) {
		if p == "" {
			return
		}
		v := lookup(payload, obj, p)
		switch {
		case v.Type == gjson.String:
			s := v.Str
			*dst = &s
		case v.Exists():
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s %q: value is not a string; kept the payload's field", flag, p))
		}
	}
	mapStr("map_key_alert_key", c.MapKeyAlertKey, &b.AlertKey)
	mapStr("map_key_summary", c.MapKeySummary, &summary)
	mapStr("map_key_priority", c.MapKeyPriority, &b.Priority)
	if c.MapKeyEtype != "" {
		var raw *string
		mapStr("map_key_etype", c.MapKeyEtype, &raw)
		if raw != nil {
			etype = raw
		}
		var cmp string // ilagent compares "" when the path found nothing
		if raw != nil {
			cmp = *raw
		}
		for _, m := range []struct{ val, typ string }{
			{c.MapValEtypeAlert, TypeAlert}, {c.MapValEtypeAccept, TypeAccept}, {c.MapValEtypeResolve, TypeResolve},
		} {
			if m.val != "" && m.val == cmp {
				t := m.typ
				etype = &t
			}
		}
	}

	// Fix for spec §11.5: ilagent queues an unknown type or priority and drops it only
	// when sending; here it is refused at once, and matching ignores case.
	var verr error
	b.EventType = TypeAlert
	if etype != nil {
		b.EventType = *etype
		switch u := strings.ToUpper(*etype); u {
		case TypeAlert, TypeAccept, TypeResolve, TypeComment:
			b.EventType = u
		default:
			verr = fmt.Errorf("event type %q is not ALERT, ACCEPT, RESOLVE or COMMENT", *etype)
		}
	}
	if b.Priority != nil {
		switch u := strings.ToUpper(*b.Priority); u {
		case PriorityHigh, PriorityLow:
			b.Priority = &u
		default:
			verr = errors.Join(verr, fmt.Errorf("priority %q is not HIGH or LOW", *b.Priority))
		}
	}

	switch {
	case summary != nil:
		b.Summary = *summary
	case b.EventType == TypeAlert:
		b.Summary = "New alert from " + topic
	}

	if cd := fields[mCustomDetails]; cd.Exists() && cd.Type != gjson.Null {
		if end := cd.Index + len(cd.Raw); cd.Index > 0 && end <= len(payload) && string(payload[cd.Index:end]) == cd.Raw {
			b.CustomDetails = payload[cd.Index:end] // the same bytes, not copied
		} else {
			b.CustomDetails = json.RawMessage(cd.Raw)
		}
	} else if c.ForwardMessagePayload {
		b.CustomDetails = payload
	} else {
		b.CustomDetails = defaultDetails()
	}

	if res.Body, err = b.Encode(); err != nil {
		return Result{}, adapters.Permanent(fmt.Errorf("event from %q: %w", topic, err))
	}
	res.IntegrationKey = b.IntegrationKey
	res.EventType = b.EventType
	if b.AlertKey != nil {
		res.AlertKey = *b.AlertKey
	}
	res.Path = path + url.PathEscape(b.IntegrationKey)
	if verr != nil {
		return res, adapters.Permanent(fmt.Errorf("map event from %q: %w", topic, verr))
	}
	return res, nil
}

// lookup finds p in the payload: first as a gjson path, then as a literal top-level
// key, so that filter keys holding dots or gjson metacharacters keep working as
// ilagent's top-level filter names did.
func lookup(payload []byte, obj map[string]json.RawMessage, p string) gjson.Result {
	if v := gjson.GetBytes(payload, p); v.Exists() {
		return v
	}
	if raw, ok := obj[p]; ok {
		return gjson.ParseBytes(raw)
	}
	return gjson.Result{}
}

// objects decodes raw as null or an array of JSON objects.
func objects(name string, raw json.RawMessage) ([]map[string]json.RawMessage, error) {
	if raw == nil {
		return nil, nil
	}
	var arr []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil {
		return nil, fmt.Errorf("field %s is not an array of objects", name)
	}
	for i, o := range arr {
		if o == nil {
			return nil, fmt.Errorf("field %s[%d] is not an object", name, i)
		}
	}
	return arr, nil
}

// field reads the string field name of o: required means it must be present.
func field(o map[string]json.RawMessage, where, name string, required bool) (*string, error) {
	var s *string
	if raw, ok := o[name]; ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%s.%s is not a string", where, name)
		}
	}
	if required && s == nil {
		return nil, fmt.Errorf("%s.%s is missing", where, name)
	}
	return s, nil
}

// images decodes the payload's images: objects with a string src and optional
// string href and alt.
func images(raw json.RawMessage) ([]ilert.Image, error) {
	arr, err := objects("images", raw)
	if arr == nil {
		return nil, err
	}
	out := make([]ilert.Image, len(arr))
	for i, o := range arr {
		where := fmt.Sprintf("images[%d]", i)
		src, err := field(o, where, "src", true)
		if err != nil {
			return nil, err
		}
		out[i].Src = *src
		if out[i].Href, err = field(o, where, "href", false); err != nil {
			return nil, err
		}
		if out[i].Alt, err = field(o, where, "alt", false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// links decodes the payload's links: objects with a string href and optional string
// text.
func links(raw json.RawMessage) ([]ilert.Link, error) {
	arr, err := objects("links", raw)
	if arr == nil {
		return nil, err
	}
	out := make([]ilert.Link, len(arr))
	for i, o := range arr {
		where := fmt.Sprintf("links[%d]", i)
		href, err := field(o, where, "href", true)
		if err != nil {
			return nil, err
		}
		out[i].Href = *href
		if out[i].Text, err = field(o, where, "text", false); err != nil {
			return nil, err
		}
	}
	return out, nil
}
