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
	"github.com/edgerelay/edgerelay/adapters/ilert/internal/jsonscan"
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
	res, err := mapMessage(c, origin{topic: topic}, payload)
	return withPath(res, PathMQTT), err
}

// MapKafka maps a Kafka message as Map does; only the default customDetails
// ({"messageKey":…,"topic":…}) and the path differ (spec §7).
func MapKafka(c Config, topic, messageKey string, payload []byte) (Result, error) {
	res, err := mapMessage(c, origin{topic: topic, kafka: true, messageKey: messageKey}, payload)
	return withPath(res, PathKafka), err
}

// withPath sets the Path of a mapped Result. The route transform does without it:
// the sink builds the URL.
func withPath(res Result, path string) Result {
	if res.Body != nil {
		res.Path = path + url.PathEscape(res.IntegrationKey)
	}
	return res
}

func skip(format string, a ...any) (Result, error) {
	return Result{Skip: true, Reason: fmt.Sprintf(format, a...)}, nil
}

// origin is where a message came from, as its default customDetails tell it.
type origin struct {
	topic      string
	kafka      bool
	messageKey string // Kafka only
	// keyByRef leaves a configured EventKey out of the body: the route transform
	// names it by reference (ilert.AttrKeyRef), so the key is never stored.
	keyByRef bool
}

// appendDetails appends the default customDetails, as json.Marshal writes them:
// {"topic":…} for MQTT, {"messageKey":…,"topic":…} for Kafka.
func (o origin) appendDetails(b []byte) []byte {
	if o.kafka {
		b = append(b, `{"messageKey":`...)
		b = appendMarshal(b, o.messageKey)
		b = append(b, `,"topic":`...)
	} else {
		b = append(b, `{"topic":`...)
	}
	return append(appendMarshal(b, o.topic), '}')
}

// appendMarshal appends json.Marshal(s): it escapes <, > and &, unlike the event's
// own strings. Printable ASCII needing no escape, what topics are made of, is
// copied as it is.
func appendMarshal(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= utf8.RuneSelf, c == '"', c == '\\', c == '<', c == '>', c == '&':
			m, _ := json.Marshal(s)
			return append(b, m...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
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

// memberIndex returns the index of the member called name, or -1.
func memberIndex(name string) int {
	switch name {
	case "integrationKey":
		return mIntegrationKey
	case "apiKey":
		return mAPIKey
	case "eventType":
		return mEventType
	case "summary":
		return mSummary
	case "details":
		return mDetails
	case "alertKey":
		return mAlertKey
	case "priority":
		return mPriority
	case "images":
		return mImages
	case "links":
		return mLinks
	case "customDetails":
		return mCustomDetails
	}
	return -1
}

// members holds the members of a payload found in one pass, by index; a member
// given twice counts with its last value, as in a decoded map.
type members [nMembers]jsonscan.Value

// scan reads the members of payload in one pass, and reports whether payload is a
// JSON object of valid UTF-8; s is payload as a string.
func scan(s string, payload []byte) (m members, ok bool) {
	info, ok := jsonscan.Members(payload, func(k, v jsonscan.Value) {
		if i := memberIndex(jsonscan.Unquote(s[k.Start:k.End])); i >= 0 {
			m[i] = v
		}
	})
	return m, ok && !info.BadUTF8
}

// notObject is the skip of a payload that is not a JSON object of valid UTF-8,
// saying why.
func notObject(payload []byte) (Result, error) {
	if !utf8.Valid(payload) {
		return skip("payload is not valid UTF-8")
	}
	// Let encoding/json say why, as the reason always did.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		return skip("payload is not a JSON object: %v", err)
	}
	return skip("payload is not a JSON object: null")
}

// decode decodes payload, a valid JSON object, into a map of its members.
func decode(payload []byte) map[string]json.RawMessage {
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(payload, &obj) // scan checked it
	return obj
}

// strs holds the payload's string members, by index; set tells which are
// present and not null.
type strs struct {
	val [nMembers]string
	set [nMembers]bool
}

// get returns a pointer to member i, nil when it is absent or null.
func (ss *strs) get(i int) *string {
	if !ss.set[i] {
		return nil
	}
	return &ss.val[i]
}

// read reads the string members of m; it fails on the first member that is present,
// not null, and not a string.
func (ss *strs) read(s string, m *members) error {
	for _, i := range [...]int{mIntegrationKey, mAPIKey, mEventType, mSummary, mDetails, mAlertKey, mPriority} {
		switch v := m[i]; v.Kind {
		case 0, jsonscan.Null:
		case jsonscan.String:
			ss.val[i], ss.set[i] = jsonscan.Unquote(s[v.Start:v.End]), true
		default:
			return fmt.Errorf("field %s is not a string", memberNames[i])
		}
	}
	return nil
}

// raw returns the member's JSON text, nil when absent.
func raw(payload []byte, v jsonscan.Value) json.RawMessage {
	if v.Kind == 0 {
		return nil
	}
	return payload[v.Start:v.End]
}

// canonical returns the one of names (upper case) that s is once upper-cased as by
// strings.ToUpper; it allocates only for s that is not ASCII.
func canonical(s string, names ...string) (string, bool) {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		s = strings.ToUpper(s)
	}
	for _, n := range names {
		if s == n || ascii && strings.EqualFold(s, n) {
			return n, true
		}
	}
	return "", false
}

// mapMessage maps payload, read in one pass: the mapping runs for every event. The
// Result has no Path.
func mapMessage(c Config, o origin, payload []byte) (Result, error) {
	s := string(payload) // the one copy: the members' strings are substrings of it
	fields, ok := scan(s, payload)
	if !ok {
		return notObject(payload)
	}
	// The decoded map is needed only by filter_key and the map_key_* paths, which
	// fall back to literal top-level keys.
	var obj map[string]json.RawMessage
	if c.FilterKey != "" || c.MapKeyAlertKey != "" || c.MapKeySummary != "" || c.MapKeyPriority != "" || c.MapKeyEtype != "" {
		obj = decode(payload)
	}
	// The event's fields are kept in variables of their own, the ilert.Event put
	// together only to be encoded: the compiler's escape analysis does not tell a
	// struct's fields apart, and the strings' storage (ss) would move to the heap.
	var (
		res     Result
		ss      strs
		imgs    []ilert.Image
		lnks    []ilert.Link
		intKey  string
		summary string
	)
	err := ss.read(s, &fields)
	key, apiKey := ss.get(mIntegrationKey), ss.get(mAPIKey)
	etype, sum := ss.get(mEventType), ss.get(mSummary)
	details, alertKey, priority := ss.get(mDetails), ss.get(mAlertKey), ss.get(mPriority)
	if err == nil {
		imgs, err = images(raw(payload, fields[mImages]))
	}
	if err == nil {
		lnks, err = links(raw(payload, fields[mLinks]))
	}
	if err != nil {
		return skip("payload is not an ilert event: %v", err)
	}

	if reason, out := filteredOut(c, payload, obj); out {
		return Result{Skip: true, Filtered: true, Reason: reason}, nil
	}

	switch {
	case c.EventKey != "":
		intKey = c.EventKey
	case key != nil:
		intKey = *key
		if apiKey != nil && *apiKey != *key {
			res.Warnings = append(res.Warnings, "payload has both integrationKey and apiKey; used integrationKey")
		}
	case apiKey != nil:
		intKey = *apiKey
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
	mapStr("map_key_alert_key", c.MapKeyAlertKey, &alertKey)
	mapStr("map_key_summary", c.MapKeySummary, &sum)
	mapStr("map_key_priority", c.MapKeyPriority, &priority)
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
	eventType := TypeAlert
	if etype != nil {
		eventType = *etype
		if u, ok := canonical(*etype, TypeAlert, TypeAccept, TypeResolve, TypeComment); ok {
			eventType = u
		} else {
			verr = fmt.Errorf("event type %q is not ALERT, ACCEPT, RESOLVE or COMMENT", *etype)
		}
	}
	if priority != nil {
		if u, ok := canonical(*priority, PriorityHigh, PriorityLow); ok {
			priority = &u
		} else {
			verr = errors.Join(verr, fmt.Errorf("priority %q is not HIGH or LOW", *priority))
		}
	}

	switch {
	case sum != nil:
		summary = *sum
	case eventType == TypeAlert:
		summary = "New alert from " + o.topic
	}

	var custom json.RawMessage
	var buf [96]byte // the default customDetails, most often short enough for it
	switch cd := fields[mCustomDetails]; {
	case cd.Kind != 0 && cd.Kind != jsonscan.Null:
		custom = payload[cd.Start:cd.End] // the same bytes, not copied
	case c.ForwardMessagePayload:
		custom = payload
	default:
		custom = o.appendDetails(buf[:0])
	}

	bodyKey := intKey
	if o.keyByRef && c.EventKey != "" {
		bodyKey = ""
	}
	b := ilert.Event{IntegrationKey: bodyKey, EventType: eventType, Summary: summary, Details: details, AlertKey: alertKey,
		Priority: priority, Images: imgs, Links: lnks, CustomDetails: custom}
	if res.Body, err = b.Encode(); err != nil {
		return Result{}, adapters.Permanent(fmt.Errorf("event from %q: %w", o.topic, err))
	}
	res.IntegrationKey, res.EventType = intKey, eventType
	if alertKey != nil {
		res.AlertKey = *alertKey
	}
	if verr != nil {
		return res, adapters.Permanent(fmt.Errorf("map event from %q: %w", o.topic, verr))
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
