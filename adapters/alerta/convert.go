package alerta

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/text"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Defaults of ConvertOptions.
const (
	DefaultConvertEnvironment = "Production"
	DefaultConvertEvent       = "edgerelay"
	DefaultConvertSeverity    = "warning"
)

// Bounds of what FromEvent copies from an event into an alert: the alert stays a
// few KiB whatever the payload was.
const (
	maxConvText      = 4 << 10 // text and value
	maxConvRawText   = 1 << 10 // a raw payload shown as the text
	maxConvResource  = 255
	maxConvAttrs     = 32  // attributes taken from customDetails
	maxConvAttrKey   = 64  // their names
	maxConvAttrValue = 256 // their string values
)

// ConvertOptions are the defaults FromEvent fills in; the alerta sink reads them
// from its convert: section (convert.md), so a sink's Config may embed it under
// `yaml:"convert"`. Now is not configured: the sink sets it from its clock.
type ConvertOptions struct {
	// Environment of every converted alert, and of an Alerta-shaped body that names
	// none. Empty means "Production" (Alerta's reject plugin allows Production and
	// Development only).
	Environment string `yaml:"environment"`
	// Origin of converted alerts and heartbeats. Empty means "edgerelay/<source>" for
	// alerts, "<source>" for heartbeats.
	Origin string `yaml:"origin"`
	// Event of an alert converted from an ilert event or a raw message. Empty means
	// "edgerelay".
	Event string `yaml:"event"`
	// Severity of a raw message without a valid severity field, and of an ilert ALERT
	// without priority. Empty means "warning".
	Severity string `yaml:"severity"`
	// Service of converted alerts (and of an Alerta-shaped body that names none):
	// Alerta's reject plugin refuses an alert without one. Empty means the event's
	// source name ("edgerelay" when it has none).
	Service []string `yaml:"service"`
	// Timeout of converted alerts and heartbeats, in seconds. Zero means
	// DefaultTimeout (86400).
	Timeout int `yaml:"timeout"`
	// Now is the createTime of an event with no Received time. Zero means time.Now().
	Now time.Time `yaml:"-"`
}

// Validate reports every problem of o at once, each naming its key under the
// sink's convert: section: a severity that is not Alerta's, a negative timeout, an
// empty service name.
func (o ConvertOptions) Validate() error {
	var errs []error
	if o.Severity != "" {
		if _, ok := SeverityCode(strings.ToLower(o.Severity)); !ok {
			errs = append(errs, fmt.Errorf("convert.severity: %q is not one of %s", o.Severity, strings.Join(Severities(), ", ")))
		}
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("convert.timeout: %d is negative", o.Timeout))
	}
	if slices.Contains(o.Service, "") {
		errs = append(errs, errors.New("convert.service: a service name is empty"))
	}
	return errors.Join(errs...)
}

// Converted is an event converted for an Alerta destination.
type Converted struct {
	// Op is OpAlert (POST /alert), OpAction (PUT /alert/{ID}/action) or OpHeartbeat
	// (POST /heartbeat); "" when Skip is set.
	Op string
	// ID is the alert's id (for OpAction, the one in the path); "" for a heartbeat.
	ID string
	// Body is what to send, in json.dumps style.
	Body []byte
	// Resend is the alert's body, for an action a destination answers with 404
	// because it never saw the alert: post it, then the action again. Nil otherwise.
	Resend []byte
	// Skip, when not empty, says why the event has no Alerta equivalent: nothing is
	// sent, and the event counts as delivered.
	Skip string
}

// ErrFederationEvent is FromEvent's error for an event of the federation (one with
// AttrOp): it is sent as it is, not converted.
var ErrFederationEvent = errors.New("an event of the Alerta federation (" + AttrOp + ") is not converted")

// FromEvent converts an event that is not the federation's (it has no AttrOp) into
// what an alerta sink sends, by the mapping in convert.md: an ilert event body (from
// the ilert_http source or a route's ilert transform), a JSON object shaped like an
// Alerta alert, a heartbeat, or any other message. The result depends only on the
// event and o, so a retried event converts to the same bytes and addresses the
// same alert. An error is marked adapters.Permanent and never carries the payload.
// Nothing of an ilert key (integrationKey, apiKey) reaches the result.
func FromEvent(e *adapters.Event, o ConvertOptions) (Converted, error) {
	if _, ok := e.Attrs[AttrOp]; ok {
		return Converted{}, ErrFederationEvent
	}
	c := converter{e: e, o: o}
	switch e.Kind {
	case adapters.KindHeartbeat:
		return c.heartbeat(), nil
	case adapters.KindPolicy:
		return Converted{Skip: "an escalation-policy update has no Alerta equivalent"}, nil
	}
	obj, _ := convTopObject(e.Payload)
	switch {
	case obj != nil && convIlertEvent(obj):
		return c.fromIlert(obj)
	case obj != nil && convIsString(obj["resource"]) && convIsString(obj["event"]):
		c.keys = convFindKeys(obj)
		return c.fromAlertaBody()
	}
	return c.fromRaw(obj), nil
}

// converter holds one conversion's event and options.
type converter struct {
	e    *adapters.Event
	o    ConvertOptions
	keys convKeys // redacted from every string copied
}

func (c converter) environment() string { return convOr(c.o.Environment, DefaultConvertEnvironment) }
func (c converter) event() string       { return convOr(c.o.Event, DefaultConvertEvent) }

func (c converter) severity() string {
	if s := strings.ToLower(c.o.Severity); s != "" {
		if _, ok := SeverityCode(s); ok {
			return s
		}
	}
	return DefaultConvertSeverity
}

func (c converter) service() []string {
	if len(c.o.Service) > 0 {
		return append([]string(nil), c.o.Service...)
	}
	return []string{convOr(c.e.Source, "edgerelay")}
}

func (c converter) origin() string {
	return convOr(c.o.Origin, "edgerelay/"+convOr(c.e.Source, "edgerelay"))
}

func (c converter) timeout() int {
	if c.o.Timeout > 0 {
		return c.o.Timeout
	}
	return DefaultTimeout
}

// created is the createTime: when the relay first saw the event, so a retry sends
// the same body.
func (c converter) created() time.Time {
	switch {
	case !c.e.Received.IsZero():
		return c.e.Received.UTC()
	case !c.o.Now.IsZero():
		return c.o.Now.UTC()
	}
	return time.Now().UTC()
}

// alert returns an alert with the converted defaults.
func (c converter) alert(id, resource, severity, text string) *Alert {
	return &Alert{
		ID: id, Resource: resource, Event: c.event(), Environment: c.environment(),
		Severity: severity, Correlate: []string{}, Service: c.service(), Group: "Misc",
		Text: text, Tags: []string{}, Attributes: []byte("{}"), Origin: c.origin(),
		Type: "exceptionAlert", CreateTime: c.created(), Timeout: c.timeout(),
	}
}

// fromIlert maps an ilert event body: ALERT is an alert, RESOLVE the same alert with
// severity normal (which closes it), ACCEPT an ack of it; COMMENT has no equivalent.
// The alert's id is derived from the alertKey alone, so every event of one ilert
// alert addresses the same Alerta alert.
func (c converter) fromIlert(obj map[string]json.RawMessage) (Converted, error) {
	var f struct{ eventType, summary, details, alertKey, priority string }
	for _, m := range []struct {
		name string
		dst  *string
	}{{"eventType", &f.eventType}, {"summary", &f.summary}, {"details", &f.details},
		{"alertKey", &f.alertKey}, {"priority", &f.priority}} {
		v, ok := obj[m.name]
		if !ok || string(v) == "null" {
			continue
		}
		if json.Unmarshal(v, m.dst) != nil {
			return Converted{}, adapters.Permanent(fmt.Errorf("ilert event %s: %s is not a string", c.e.ID, m.name))
		}
	}
	eventType := strings.ToUpper(f.eventType)
	if eventType == "COMMENT" {
		return Converted{Skip: "an ilert COMMENT has no Alerta equivalent (notes are not forwarded)"}, nil
	}
	if f.alertKey == "" && eventType != "ALERT" {
		return Converted{Skip: "an ilert " + eventType + " without alertKey names no alert"}, nil
	}
	severity := c.severity()
	switch strings.ToUpper(f.priority) {
	case "HIGH":
		severity = "major"
	case "LOW":
		severity = "warning"
	}
	id := NameUUID("ilert\x00" + f.alertKey)
	resource := convBoundKey(f.alertKey)
	if f.alertKey == "" {
		// No key: each event is an alert of its own, keyed by the event's id so that
		// a retry addresses the same one.
		id = NameUUID("event\x00" + c.e.ID)
		resource = convBoundKey(convOr(c.e.Topic, convOr(c.e.Source, "edgerelay")))
	}
	var cd *convObject
	if raw, ok := obj["customDetails"]; ok {
		cd, _ = convOrderedObject(raw)
	}
	c.keys = convFindKeys(obj)
	a := c.alert(id, resource, severity, text.Bound(c.keys.redact(convOneLine(f.summary)), maxConvText))
	if f.details != "" {
		a.Value = convPtr(text.Bound(c.keys.redact(f.details), maxConvText))
	}
	a.Attributes = c.attributes(cd, convFlatAttr("source", c.e.Source), convFlatAttr("topic", c.e.Topic))
	switch eventType {
	case "RESOLVE":
		a.Severity = "normal"
		if a.Text == "" {
			a.Text = "resolved"
		}
	case "ACCEPT":
		text := a.Text
		if text == "" {
			text = "ack from ilert event"
		}
		act := &Action{Action: "ack", Text: text}
		return Converted{Op: OpAction, ID: a.ID, Body: act.Encode(), Resend: a.Encode()}, nil
	}
	return Converted{Op: OpAlert, ID: a.ID, Body: a.Encode()}, nil
}

// fromAlertaBody decodes a body that already looks like an Alerta alert, with the
// options as defaults; an alert with no id gets one derived from its
// de-duplication key and the event's ordering key (else the event's id).
func (c converter) fromAlertaBody() (Converted, error) {
	const noID = "\x00no id"
	a, aerr := DecodeAlert(c.e.Payload, Defaults{Origin: c.origin(), Timeout: c.timeout(), Now: c.created(),
		NewID: func() string { return noID }})
	if aerr != nil {
		// Alerta's messages echo a bad value (the severity): bounded and redacted.
		msg := text.Bound(c.keys.redact(aerr.Message), 256)
		return Converted{}, adapters.Permanent(fmt.Errorf("alert %s: not a valid Alerta alert (%d %s)", c.e.ID, aerr.Code, msg))
	}
	c.redactAlert(a)
	if a.Environment == "" {
		a.Environment = c.environment()
	}
	if len(a.Service) == 0 {
		a.Service = c.service()
	}
	if a.ID == noID {
		k := "id\x00" + c.e.ID
		if c.e.Key != "" {
			k = "key\x00" + c.e.Key
		}
		a.ID = NameUUID("alert\x00" + c.e.Source + "\x00" + DedupKey(a.Environment, a.Resource, a.Event, a.Customer) + "\x00" + k)
	}
	return Converted{Op: OpAlert, ID: a.ID, Body: a.Encode()}, nil
}

// redactAlert removes the ilert keys the body carries (and the configured
// secrets) from every string an Alerta-shaped body passes on, not only its text:
// a key pasted into a tag, rawData or an attribute would otherwise reach the
// destination. Attributes named like a key are dropped. The id is kept: it names
// the alert.
func (c converter) redactAlert(a *Alert) {
	r := c.keys.redact
	for _, f := range []*string{&a.Resource, &a.Event, &a.Environment, &a.Group, &a.Text, &a.Origin, &a.Type} {
		*f = r(*f)
	}
	for _, p := range []**string{&a.Value, &a.RawData, &a.Customer} {
		if *p != nil {
			*p = convPtr(r(**p))
		}
	}
	for _, l := range [][]string{a.Correlate, a.Service, a.Tags} {
		for i := range l {
			l[i] = r(l[i])
		}
	}
	if out, err := convRewrite(a.Attributes, r, convIlertKeyName); err == nil {
		a.Attributes = out
	}
}

// convRewrite re-encodes the JSON value raw with every string, member names
// included, passed through r once decoded (so a key written with escapes such as
// \u00e9 or \" is found), and the members drop names left out, at every depth.
// Numbers, booleans and null are kept as written, and so is the members' order.
func convRewrite(raw []byte, r func(string) string, drop func(string) bool) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	if err := convRewriteValue(dec, &out, r, drop); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON value")
	}
	return out.Bytes(), nil
}

func convRewriteValue(dec *json.Decoder, out *bytes.Buffer, r func(string) string, drop func(string) bool) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := t.(type) {
	case json.Delim:
		open, close := byte(v), byte('}')
		if v == '[' {
			close = ']'
		} else if v != '{' {
			return errors.New("unexpected " + v.String())
		}
		out.WriteByte(open)
		n := 0
		for dec.More() {
			var name string
			if open == '{' {
				nt, err := dec.Token()
				if err != nil {
					return err
				}
				name, _ = nt.(string)
				if drop(name) {
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
					continue
				}
			}
			if n > 0 {
				out.WriteByte(',')
			}
			n++
			if open == '{' {
				k, _ := json.Marshal(r(name))
				out.Write(k)
				out.WriteByte(':')
			}
			if err := convRewriteValue(dec, out, r, drop); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		out.WriteByte(close)
	case string:
		b, _ := json.Marshal(r(v))
		out.Write(b)
	case json.Number:
		out.WriteString(v.String())
	case bool:
		out.WriteString(strconv.FormatBool(v))
	case nil:
		out.WriteString("null")
	}
	return nil
}

// fromRaw maps any other message: resource the topic (else the source), severity
// from a valid "severity" field, the payload as the text when it is valid UTF-8
// (bounded), and the topic, source and key as attributes.
func (c converter) fromRaw(obj map[string]json.RawMessage) Converted {
	severity := c.severity()
	if v, ok := obj["severity"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil {
			if _, ok := SeverityCode(strings.ToLower(s)); ok {
				severity = strings.ToLower(s)
			}
		}
	}
	resource := convBoundKey(convOr(c.e.Topic, convOr(c.e.Source, "edgerelay")))
	id := NameUUID("event\x00" + c.e.ID)
	if c.e.Key != "" {
		id = NameUUID("raw\x00" + c.e.Source + "\x00" + resource + "\x00" + c.e.Key)
	}
	a := c.alert(id, resource, severity, convRawText(c.e.Payload, obj))
	a.Attributes = c.attributes(nil, convFlatAttr("topic", c.e.Topic), convFlatAttr("source", c.e.Source), convFlatAttr("key", c.e.Key))
	return Converted{Op: OpAlert, ID: a.ID, Body: a.Encode()}
}

// heartbeat maps an event of kind heartbeat. Its key and payload are not used: for
// an ilert heartbeat they are its key.
func (c converter) heartbeat() Converted {
	h := &Heartbeat{
		Origin: convOr(c.o.Origin, convOr(c.e.Source, "edgerelay")), Tags: []string{},
		Attributes: c.attributes(nil, convFlatAttr("topic", c.e.Topic)),
		Timeout:    c.timeout(), CreateTime: c.created(),
	}
	return Converted{Op: OpHeartbeat, Body: h.Encode()}
}

// convRawText is a raw payload as an alert's text: the payload itself when it is valid
// UTF-8 (cut at maxConvRawText), with configured secrets redacted; a note of its
// size when it is binary or an object carrying an ilert key.
func convRawText(p []byte, obj map[string]json.RawMessage) string {
	switch {
	case len(p) == 0:
		return ""
	case len(convFindKeys(obj)) > 0:
		return fmt.Sprintf("payload of %d bytes not shown: it carries an ilert key", len(p))
	case !utf8.Valid(p):
		return fmt.Sprintf("binary payload of %d bytes", len(p))
	}
	return text.Bound(secret.Redact(string(p)), maxConvRawText)
}

// convAttr is one attribute: its name and its value as compact JSON.
type convAttr struct {
	name  string
	value []byte
}

// convFlatAttr is a string attribute; an empty value gives none.
func convFlatAttr(name, value string) convAttr {
	if value == "" {
		return convAttr{}
	}
	b, _ := json.Marshal(text.Bound(value, maxConvAttrValue))
	return convAttr{name, b}
}

// attributes builds the attributes object: the flat string and number members of
// cd (in their order, names with '.' and '$' as '_' as Alerta refuses them, ilert
// keys and other values left out, at most maxConvAttrs), then extra where cd has no
// member of that name.
func (c converter) attributes(cd *convObject, extra ...convAttr) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := map[string]bool{}
	add := func(a convAttr) {
		if a.name == "" || seen[a.name] {
			return
		}
		seen[a.name] = true
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(a.name)
		b.Write(k)
		b.WriteByte(':')
		b.Write(a.value)
	}
	if cd != nil {
		n := 0
		for _, m := range cd.members {
			if n == maxConvAttrs {
				break
			}
			name := strings.NewReplacer(".", "_", "$", "_").Replace(m.name)
			if name == "" || len(name) > maxConvAttrKey || convIlertKeyName(name) {
				continue
			}
			switch v := bytes.TrimSpace(m.value); {
			case len(v) > 0 && v[0] == '"':
				var s string
				if json.Unmarshal(v, &s) != nil {
					continue
				}
				add(convFlatAttr(name, c.keys.redact(s)))
			case len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') && len(v) <= 32:
				add(convAttr{name, v})
			default:
				continue // objects, arrays, booleans and null are not flat values
			}
			n++
		}
	}
	for _, a := range extra {
		add(a)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// convObject is a JSON object's members in their order.
type convObject struct {
	members []convMember
}

type convMember struct {
	name  string
	value json.RawMessage
}

// convOrderedObject reads the members of a JSON object in order; nil when raw is not
// an object.
func convOrderedObject(raw []byte) (*convObject, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	om := &convObject{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		om.members = append(om.members, convMember{name, v})
	}
	return om, nil
}

// convTopObject decodes the top level of a JSON object payload; nil when the payload is
// not one (or is larger than MaxBody).
func convTopObject(p []byte) (map[string]json.RawMessage, error) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || p[0] != '{' || len(p) > MaxBody {
		return nil, errors.New("not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// convIlertEvent reports whether obj is an ilert event body: its eventType is one of
// ilert's, in any case (the ilert transform accepts any).
func convIlertEvent(obj map[string]json.RawMessage) bool {
	var t string
	if v, ok := obj["eventType"]; !ok || json.Unmarshal(v, &t) != nil {
		return false
	}
	switch strings.ToUpper(t) {
	case "ALERT", "ACCEPT", "RESOLVE", "COMMENT":
		return true
	}
	return false
}

// convIlertKeyName reports whether a member name is one ilert reads a key from, or
// looks like one once its punctuation is dropped ("integration.Key", "api_key").
func convIlertKeyName(k string) bool {
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, k)
	return n == "integrationkey" || n == "apikey"
}

// convKeys are the ilert keys an event carries: every string member with a key's
// name, at any depth (customDetails, attributes and what they nest). Their values,
// and the base64 forms of them, are redacted from whatever the conversion copies.
type convKeys []string

func convFindKeys(obj map[string]json.RawMessage) convKeys {
	var ks convKeys
	var walk func(name string, v any)
	walk = func(name string, v any) {
		switch v := v.(type) {
		case string:
			if convIlertKeyName(name) && len(v) >= 4 {
				b := []byte(v)
				ks = append(ks, v, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
					base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b))
			}
		case map[string]any:
			for n, m := range v {
				walk(n, m)
			}
		case []any:
			for _, m := range v {
				walk("", m)
			}
		}
	}
	for name, raw := range obj {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			walk(name, v)
		}
	}
	// Longest first, so a key inside another is not replaced first, and the same
	// event always gives the same result (obj is a map).
	slices.SortFunc(ks, func(a, b string) int {
		if n := cmp.Compare(len(b), len(a)); n != 0 {
			return n
		}
		return strings.Compare(a, b)
	})
	return ks
}

// redact replaces the keys in s with "***", and the secrets the configuration
// registered too.
func (ks convKeys) redact(s string) string {
	for _, k := range ks {
		s = strings.ReplaceAll(s, k, "***")
	}
	return secret.Redact(s)
}

// convIsString reports whether v is a JSON string.
func convIsString(v json.RawMessage) bool {
	var s string
	return len(v) > 0 && json.Unmarshal(v, &s) == nil
}

// uuidNamespace is the name space of NameUUID (a random version 4 UUID, fixed).
var uuidNamespace = [16]byte{0x6f, 0x1c, 0x3e, 0x52, 0x8a, 0x4d, 0x4b, 0x0e, 0x9f, 0x27, 0x5d, 0x61, 0xc2, 0x08, 0xa3, 0x94}

// NameUUID returns the name-based (version 5, SHA-1) UUID of name in edgerelay's
// name space: the same name always gives the same id.
func NameUUID(name string) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	return formatUUID(u, 5)
}

// convBoundKey returns k when it fits in maxConvResource bytes, else a prefix cut at a
// character boundary, '#' and 16 hex digits of a name hash of the whole key, so
// distinct long keys stay distinct.
func convBoundKey(k string) string {
	if len(k) <= maxConvResource {
		return k
	}
	tail := "#" + strings.ReplaceAll(NameUUID(k), "-", "")[:16]
	return text.Cut(k, maxConvResource-len(tail)) + tail
}

// convOneLine replaces line breaks with spaces.
func convOneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

func convOr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func convPtr(s string) *string { return &s }
