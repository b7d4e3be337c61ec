package alerta

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultTimeout is Alerta's ALERT_TIMEOUT and HEARTBEAT_TIMEOUT: the timeout, in
// seconds, of an alert or heartbeat that gives none.
const DefaultTimeout = 86400

// FormatTime renders t in UTC with TimeLayout, the milliseconds truncated as
// Alerta's DateTime.iso8601 does.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses a datetime as Alerta accepts it (§5.1): strictly
// YYYY-MM-DDTHH:MM:SS.<1 to 6 digits>Z, in UTC. Anything else, a missing fraction
// or a numeric offset included, is an error with Alerta's message.
func ParseTime(s string) (time.Time, error) {
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, errDates
	}
	return t, nil
}

var errDates = &Error{Code: 400, Message: "dates must be ISO 8601 date format YYYY-MM-DDThh:mm:ss.sssZ"}

func parseTime(s string) (time.Time, bool) {
	// "2006-01-02T15:04:05." is 20 bytes, then 1 to 6 digits and 'Z'.
	if len(s) < 22 || len(s) > 27 || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for _, c := range []byte(s[from:to]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	for i, c := range map[int]byte{4: '-', 7: '-', 10: 'T', 13: ':', 16: ':', 19: '.'} {
		if s[i] != c {
			return time.Time{}, false
		}
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	frac, ok7 := num(20, len(s)-1)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 {
		return time.Time{}, false
	}
	// Python's %f pads the fraction on the right to microseconds.
	for range 6 - (len(s) - 21) {
		frac *= 10
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, frac*1000, time.UTC)
	if t.Day() != day { // 2026-02-30 would normalise into March
		return time.Time{}, false
	}
	return t, true
}

// severities is Alerta's SEVERITY_MAP (§5.1) in the order of its codes, which is
// the order Alerta lists them in its "is not one of" message.
var severities = []struct {
	name string
	code int
}{
	{"security", 0}, {"critical", 1}, {"major", 2}, {"minor", 3}, {"warning", 4},
	{"indeterminate", 5}, {"informational", 6}, {"normal", 7}, {"ok", 7},
	{"cleared", 7}, {"debug", 8}, {"trace", 9}, {"unknown", 10},
}

// Severities returns Alerta's severity names, most severe first.
func Severities() []string {
	s := make([]string, len(severities))
	for i, v := range severities {
		s[i] = v.name
	}
	return s
}

// SeverityCode returns a severity's code (0 security … 7 normal/ok/cleared … 10
// unknown) and whether s is one of Alerta's severities; names are case-sensitive.
func SeverityCode(s string) (int, bool) {
	for _, v := range severities {
		if v.name == s {
			return v.code, true
		}
	}
	return 0, false
}

// Defaults are what DecodeAlert and DecodeHeartbeat fill in for fields a body
// leaves out.
type Defaults struct {
	// Origin is the origin of an alert that names none; "" means
	// "edgerelay/<hostname>", like Alerta's "<program>/<hostname>".
	Origin string
	// Timeout is the timeout of an alert that gives none; 0 means DefaultTimeout.
	Timeout int
	// Now is the createTime of an alert that gives none; zero means time.Now().
	Now time.Time
	// NewID makes the id of an alert that has none; nil means NewUUID.
	NewID func() string
}

func (d Defaults) origin() string {
	if d.Origin != "" {
		return d.Origin
	}
	return defaultOrigin()
}

// defaultOrigin is "edgerelay/<hostname>", looked up once.
var defaultOrigin = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	return "edgerelay/" + host
})

// clip returns s cut to at most n bytes on a rune boundary, with "…" when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func (d Defaults) timeout() int {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultTimeout
}

func (d Defaults) now() time.Time {
	if d.Now.IsZero() {
		return time.Now().UTC()
	}
	return d.Now.UTC()
}

func (d Defaults) newID() string {
	if d.NewID != nil {
		return d.NewID()
	}
	return NewUUID()
}

// NewUUID returns a random (version 4) UUID in its canonical lowercase form.
func NewUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+).
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexDigits[c>>4], hexDigits[c&0xf]
		j += 2
	}
	return string(b[:])
}

func badRequest(format string, args ...any) *Error {
	return &Error{Code: 400, Message: fmt.Sprintf(format, args...)}
}

// object is a decoded JSON object: its members' raw values, the last one winning
// when a key repeats (json.loads).
type object map[string]json.RawMessage

// decodeObject checks body with the model's parser (size, depth, UTF-8, grammar)
// and splits the object it must be into its members.
func decodeObject(body []byte) (object, *Error) {
	if err := checkJSON(body); err != nil {
		return nil, badRequest("Failed to decode JSON object: %v", err)
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return nil, badRequest("Failed to decode JSON object: the body must be a JSON object")
	}
	var o object
	if err := json.Unmarshal(body, &o); err != nil {
		return nil, badRequest("Failed to decode JSON object: %v", err)
	}
	return o, nil
}

// has reports whether the key is present and not null.
func (o object) has(key string) bool {
	v, ok := o[key]
	return ok && !isNull(v)
}

func isNull(v json.RawMessage) bool { return string(v) == "null" }

// kind returns the JSON type of a raw value by its first byte.
func kind(v json.RawMessage) byte {
	if len(v) == 0 {
		return 0
	}
	switch v[0] {
	case '"':
		return 's'
	case '{':
		return 'o'
	case '[':
		return 'a'
	case 't', 'f':
		return 'b'
	case 'n':
		return 'z'
	default:
		return 'n'
	}
}

// str returns a string member: "" when absent or null, an error naming the key
// when it is of another type. Lone surrogates decode to U+FFFD.
func (o object) str(key string) (string, *Error) {
	v, ok := o[key]
	if !ok || isNull(v) {
		return "", nil
	}
	if kind(v) != 's' {
		return "", badRequest("%s must be a string", key)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", badRequest("%s must be a string", key)
	}
	return s, nil
}

// optStr returns a string member that may be null (nil), with the same errors.
func (o object) optStr(key string) (*string, *Error) {
	if !o.has(key) {
		return nil, nil
	}
	s, e := o.str(key)
	if e != nil {
		return nil, e
	}
	return &s, nil
}

// list returns a list-of-strings member. Alerta answers a present non-list
// (null included) with "<key> must be a list"; its elements are not checked there,
// and a non-string element is refused here instead of failing in a database.
func (o object) list(key string) ([]string, *Error) {
	v, ok := o[key]
	if !ok {
		return nil, nil
	}
	if kind(v) != 'a' {
		return nil, badRequest("%s must be a list", key)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, badRequest("%s must be a list", key)
	}
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		var s string
		if kind(r) != 's' || json.Unmarshal(r, &s) != nil {
			return nil, badRequest("%s must be a list of strings", key)
		}
		out = append(out, s)
	}
	return out, nil
}

// timeout returns an integer member ≥ 0 (def when absent or null). Alerta checks
// the JSON type (a string or 3.5 is refused) and then the sign; the bound is a
// Postgres integer column's.
func (o object) timeout(key string, def int) (int, *Error) {
	v, ok := o[key]
	if !ok || isNull(v) {
		return def, nil
	}
	if kind(v) != 'n' || bytes.ContainsAny(v, ".eE") {
		return 0, badRequest("timeout must be an integer")
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n > math.MaxInt32 {
		return 0, badRequest("timeout must be an integer")
	}
	if n < 0 {
		return 0, badRequest("Invalid negative 'timeout' value (%d)", n)
	}
	return int(n), nil
}

// attributes checks the attributes member (absent: "{}") and returns its compact,
// key-ordered form. Alerta refuses a present non-object, null included.
func (o object) attributes() ([]byte, *Error) {
	v, ok := o["attributes"]
	if !ok {
		return []byte("{}"), nil
	}
	if kind(v) != 'o' {
		return nil, badRequest("attributes must be a JSON object")
	}
	c, err := compactJSON(v)
	if err != nil {
		return nil, badRequest("attributes must be a JSON object")
	}
	return c, nil
}

// checkAttributeKeys refuses top-level attribute keys with '.' or '$' (Alerta:
// MongoDB field names).
func checkAttributeKeys(attrs []byte) *Error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(attrs, &m); err != nil {
		return badRequest("attributes must be a JSON object")
	}
	for k := range m {
		if strings.ContainsAny(k, ".$") {
			return badRequest(`Attribute keys must not contain "." or "$"`)
		}
	}
	return nil
}

// createTime returns the createTime member, def when it is absent or null.
func (o object) createTime(def time.Time) (time.Time, *Error) {
	v, ok := o["createTime"]
	if !ok || isNull(v) {
		return def, nil
	}
	s, e := o.str("createTime")
	if e != nil {
		return time.Time{}, errDates
	}
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, errDates
	}
	return t, nil
}

// DecodeAlert validates the body of POST /alert as Alerta 9.1 does (§5.1), in its
// order, with its status codes and messages, and fills in its defaults: a new id,
// environment "", severity normal, group Misc, type exceptionAlert, the timeout,
// origin and createTime of d. correlate gets event appended when it lists others
// and not event (Alerta leaves an empty list empty); an integer value becomes its
// decimal string. Keys Alerta ignores are ignored, its output's (href, history,
// duplicateCount, …) among them; status is kept in Status. An unknown severity is
// Alerta's 500 "Severity (x) is not one of …".
//
// Where Alerta would pass a value of the wrong type on to its database (a number
// as resource, a list of numbers as service, an object as rawData) this refuses it
// with a 400 naming the key.
func DecodeAlert(body []byte, d Defaults) (*Alert, *Error) {
	o, e := decodeObject(body)
	if e != nil {
		return nil, e
	}
	a := &Alert{}
	// Alert.parse: the types of the lists, attributes, timeout and customer first.
	if a.Correlate, e = o.list("correlate"); e != nil {
		return nil, e
	}
	if a.Service, e = o.list("service"); e != nil {
		return nil, e
	}
	if a.Tags, e = o.list("tags"); e != nil {
		return nil, e
	}
	if a.Attributes, e = o.attributes(); e != nil {
		return nil, e
	}
	if a.Timeout, e = o.timeout("timeout", d.timeout()); e != nil {
		return nil, e
	}
	if a.Customer, e = o.optStr("customer"); e != nil {
		return nil, e
	}
	if a.Customer != nil && *a.Customer == "" {
		return nil, badRequest("customer must not be an empty string")
	}
	if a.CreateTime, e = o.createTime(time.Time{}); e != nil {
		return nil, e
	}
	// Alert.__init__: mandatory values, attribute keys, the value.
	if a.Resource, e = o.str("resource"); e != nil {
		return nil, e
	}
	if a.Resource == "" {
		return nil, badRequest(`Missing mandatory value for "resource"`)
	}
	if a.Event, e = o.str("event"); e != nil {
		return nil, e
	}
	if a.Event == "" {
		return nil, badRequest(`Missing mandatory value for "event"`)
	}
	if e = checkAttributeKeys(a.Attributes); e != nil {
		return nil, e
	}
	if v, ok := o["value"]; ok && kind(v) == 'n' {
		if bytes.ContainsAny(v, ".eE") {
			return nil, badRequest("value must be a string")
		}
		s := strings.TrimPrefix(string(v), "-")
		if s != "0" && strings.HasPrefix(string(v), "-") {
			s = "-" + s
		}
		a.Value = &s
	} else if a.Value, e = o.optStr("value"); e != nil {
		return nil, e
	}
	fields := []struct {
		dst *string
		key string
		def string
	}{
		{&a.ID, "id", ""},
		{&a.Environment, "environment", ""},
		{&a.Severity, "severity", "normal"},
		{&a.Status, "status", ""},
		{&a.Group, "group", "Misc"},
		{&a.Text, "text", ""},
		{&a.Origin, "origin", ""},
		{&a.Type, "type", "exceptionAlert"},
	}
	for _, f := range fields {
		if *f.dst, e = o.str(f.key); e != nil {
			return nil, e
		}
		// Alerta's defaults apply to "" as well as to a missing key ("x or default").
		if *f.dst == "" {
			*f.dst = f.def
		}
	}
	if a.RawData, e = o.optStr("rawData"); e != nil {
		return nil, e
	}
	if a.ID == "" {
		a.ID = d.newID()
	}
	if a.Origin == "" {
		a.Origin = d.origin()
	}
	if a.CreateTime.IsZero() {
		a.CreateTime = d.now()
	}
	if a.Correlate == nil {
		a.Correlate = []string{}
	}
	if len(a.Correlate) > 0 && !slices.Contains(a.Correlate, a.Event) {
		a.Correlate = append(a.Correlate, a.Event)
	}
	if a.Service == nil {
		a.Service = []string{}
	}
	if a.Tags == nil {
		a.Tags = []string{}
	}
	// The alarm model's transition, after the plugins: an unknown severity is a 500.
	// Alerta echoes the value whole; a long one is cut so that the answer and any log
	// line stay short.
	if _, ok := SeverityCode(a.Severity); !ok {
		return nil, &Error{Code: 500, Message: fmt.Sprintf("Severity (%s) is not one of %s",
			clip(a.Severity, 64), strings.Join(Severities(), ", "))}
	}
	return a, nil
}

// pyWriter builds a json.dumps-style object, one member at a time.
type pyWriter struct {
	b []byte
}

func (w *pyWriter) key(k string) {
	if len(w.b) == 0 {
		w.b = append(w.b, '{')
	} else {
		w.b = append(w.b, ", "...)
	}
	w.b = appendPyString(w.b, k)
	w.b = append(w.b, ": "...)
}

func (w *pyWriter) str(k, v string) {
	w.key(k)
	w.b = appendPyString(w.b, v)
}

func (w *pyWriter) optStr(k string, v *string) {
	if v == nil {
		w.raw(k, "null")
		return
	}
	w.str(k, *v)
}

func (w *pyWriter) raw(k, v string) {
	w.key(k)
	w.b = append(w.b, v...)
}

func (w *pyWriter) list(k string, v []string) {
	w.key(k)
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ", "...)
		}
		w.b = appendPyString(w.b, s)
	}
	w.b = append(w.b, ']')
}

// object writes a JSON object member re-encoded with PyJSON; an empty or invalid
// one is written as {} (the Decode functions only ever store valid objects).
func (w *pyWriter) object(k string, v []byte) {
	p, err := PyJSON(v)
	if err != nil || len(p) == 0 || p[0] != '{' {
		p = []byte("{}")
	}
	w.key(k)
	w.b = append(w.b, p...)
}

func (w *pyWriter) done() []byte {
	if len(w.b) == 0 {
		return []byte("{}")
	}
	return append(w.b, '}')
}

// Encode returns the body of POST /alert exactly as Alerta's forwarder writes it
// (§2.1): the 18 keys in its order, in Python json.dumps' default style, the
// attributes re-encoded with PyJSON in their own key order, createTime with
// TimeLayout, null for each nil pointer. Status is not sent. The forwarder's own
// quirks (createTime replaced by the send time, rawData always null) are the
// sender's choice, made on the Alert before it calls Encode.
func (a *Alert) Encode() []byte {
	w := &pyWriter{b: make([]byte, 0, 512+len(a.Attributes))}
	w.str("id", a.ID)
	w.str("resource", a.Resource)
	w.str("event", a.Event)
	w.str("environment", a.Environment)
	w.str("severity", a.Severity)
	w.list("correlate", a.Correlate)
	w.list("service", a.Service)
	w.str("group", a.Group)
	w.optStr("value", a.Value)
	w.str("text", a.Text)
	w.list("tags", a.Tags)
	w.object("attributes", a.Attributes)
	w.str("origin", a.Origin)
	w.str("type", a.Type)
	w.str("createTime", FormatTime(a.CreateTime))
	w.raw("timeout", strconv.Itoa(a.Timeout))
	w.optStr("rawData", a.RawData)
	w.optStr("customer", a.Customer)
	return w.done()
}

// MaxActionName bounds an action's name (ValidAction).
const MaxActionName = 64

// ValidAction reports whether name can be an action: not empty, at most
// MaxActionName bytes of UTF-8, no control characters. Alerta takes any string;
// the bound keeps names fit for logs, metrics and filter words.
func ValidAction(name string) bool {
	if name == "" || len(name) > MaxActionName || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}

// DecodeAction validates the body of PUT /alert/{id}/action. A missing, null or
// empty action is Alerta's 400 "must supply 'action' as json data", and so is a
// body that is not an object; a name ValidAction refuses is a 400 too. A missing
// text becomes "<action> operator action" as Alerta makes it (a null one, ""); a
// timeout must be an integer ≥ 0 or null.
func DecodeAction(body []byte) (*Action, *Error) {
	noAction := badRequest("must supply 'action' as json data")
	o, e := decodeObject(body)
	if e != nil {
		return nil, noAction
	}
	name, e := o.str("action")
	if e != nil || name == "" {
		return nil, noAction
	}
	if !ValidAction(name) {
		return nil, badRequest("action must be at most %d bytes without control characters", MaxActionName)
	}
	a := &Action{Action: name}
	if _, ok := o["text"]; !ok {
		a.Text = name + " operator action"
	} else if a.Text, e = o.str("text"); e != nil {
		return nil, e
	}
	if o.has("timeout") {
		t, e := o.timeout("timeout", 0)
		if e != nil {
			return nil, e
		}
		a.Timeout = &t
	}
	return a, nil
}

// Encode returns the body of an action as the forwarder writes it (§2.2):
// {"action": …, "text": …, "timeout": …}. Alerta's forwarder always sends a null
// timeout; this writes Timeout when it is set, which Alerta accepts too.
func (a *Action) Encode() []byte {
	w := &pyWriter{b: make([]byte, 0, 64+len(a.Text))}
	w.str("action", a.Action)
	w.str("text", a.Text)
	if a.Timeout == nil {
		w.raw("timeout", "null")
	} else {
		w.raw("timeout", strconv.Itoa(*a.Timeout))
	}
	return w.done()
}

// DecodeHeartbeat validates the body of POST /heartbeat as Alerta's Heartbeat.parse
// does: tags a list, timeout an integer ≥ 0 (d's, or DefaultTimeout, when absent),
// attributes an object with no '.' or '$' in its keys, customer not "", createTime
// in the strict format (d.Now when absent). The origin defaults as an alert's; ID
// stays "" when the body has none (the receiver assigns one when it creates the
// heartbeat, and keeps the stored one when it updates it).
func DecodeHeartbeat(body []byte, d Defaults) (*Heartbeat, *Error) {
	o, e := decodeObject(body)
	if e != nil {
		return nil, e
	}
	h := &Heartbeat{}
	if h.Tags, e = o.list("tags"); e != nil {
		return nil, e
	}
	if h.Timeout, e = o.timeout("timeout", d.timeout()); e != nil {
		return nil, e
	}
	if h.Attributes, e = o.attributes(); e != nil {
		return nil, e
	}
	if h.Customer, e = o.optStr("customer"); e != nil {
		return nil, e
	}
	if h.Customer != nil && *h.Customer == "" {
		return nil, badRequest("customer must not be an empty string")
	}
	if h.CreateTime, e = o.createTime(d.now()); e != nil {
		return nil, e
	}
	if e = checkAttributeKeys(h.Attributes); e != nil {
		return nil, e
	}
	if h.ID, e = o.str("id"); e != nil {
		return nil, e
	}
	if h.Origin, e = o.str("origin"); e != nil {
		return nil, e
	}
	if h.Origin == "" {
		h.Origin = d.origin()
	}
	if h.Tags == nil {
		h.Tags = []string{}
	}
	return h, nil
}

// Encode returns the body of POST /heartbeat in json.dumps style: id (only when
// set), origin, tags, attributes, timeout, createTime and customer.
func (h *Heartbeat) Encode() []byte {
	w := &pyWriter{b: make([]byte, 0, 256+len(h.Attributes))}
	if h.ID != "" {
		w.str("id", h.ID)
	}
	w.str("origin", h.Origin)
	w.list("tags", h.Tags)
	w.object("attributes", h.Attributes)
	w.raw("timeout", strconv.Itoa(h.Timeout))
	w.str("createTime", FormatTime(h.CreateTime))
	w.optStr("customer", h.Customer)
	return w.done()
}

// ErrorBody renders Alerta's error envelope for e: {"code": …, "errors": null,
// "message": …, "requestId": …, "status": "error"}. Alerta's JSON provider sorts
// the keys and keeps json.dumps' separators, so every answer of the receiver is
// written that way (PyJSON of json.Marshal of a map gives the same form).
func ErrorBody(e *Error, requestID string) []byte {
	w := &pyWriter{b: make([]byte, 0, 96+len(e.Message)+len(requestID))}
	w.raw("code", strconv.Itoa(e.Code))
	w.raw("errors", "null")
	w.str("message", e.Message)
	w.str("requestId", requestID)
	w.str("status", "error")
	return w.done()
}
