package alerta

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"time"
)

// Output renders s as the alert object of Alerta's answers (§5.2): Alerta's keys
// sorted, compact, non-ASCII escaped as Python's json.dumps does (PyJSON turns it
// into Alerta's exact spacing), href baseURL + "/alert/" + id, times in TimeLayout.
// history is always []: a node keeps no history (Alerta's entries would need a
// record per change, and nothing in the federation reads them).
func (s *Stored) Output(baseURL string) []byte {
	return s.output(baseURL, true)
}

// output renders the object; GET /alerts leaves rawData null unless asked.
func (s *Stored) output(baseURL string, rawData bool) []byte {
	o := newObject(29)
	o.raw("attributes", canonicalJSON(s.Attributes))
	o.raw("correlate", jsonStrings(s.Correlate))
	o.raw("createTime", jsonTime(s.CreateTime))
	o.raw("customer", jsonStringPtr(s.Customer))
	o.raw("duplicateCount", []byte(strconv.Itoa(s.DuplicateCount)))
	o.str("environment", s.Environment)
	o.str("event", s.Event)
	o.str("group", s.Group)
	o.raw("history", []byte("[]"))
	o.str("href", baseURL+"/alert/"+s.ID)
	o.str("id", s.ID)
	o.raw("lastReceiveId", jsonStringOrNull(s.LastReceiveID))
	o.raw("lastReceiveTime", jsonTime(s.LastReceiveTime))
	o.str("origin", s.Origin)
	o.raw("previousSeverity", jsonStringOrNull(s.PreviousSeverity))
	if rawData {
		o.raw("rawData", jsonStringPtr(s.RawData))
	} else {
		o.raw("rawData", []byte("null"))
	}
	o.raw("receiveTime", jsonTime(s.ReceiveTime))
	o.raw("repeat", []byte(strconv.FormatBool(s.Repeat)))
	o.str("resource", s.Resource)
	o.raw("service", jsonStrings(s.Service))
	o.str("severity", s.Severity)
	o.str("status", s.Status)
	o.raw("tags", jsonStrings(s.Tags))
	o.str("text", s.Text)
	o.raw("timeout", []byte(strconv.Itoa(s.Timeout)))
	o.raw("trendIndication", jsonStringOrNull(s.TrendIndication))
	o.str("type", s.Type)
	o.raw("updateTime", jsonTime(s.UpdateTime))
	o.raw("value", jsonStringPtr(s.Value))
	return o.bytes()
}

// object builds a JSON object whose keys are sorted when rendered, as Flask's
// sort_keys does.
type object struct{ members []member }

func newObject(n int) *object { return &object{members: make([]member, 0, n)} }

func (o *object) raw(key string, v []byte) { o.members = append(o.members, member{key, v}) }

func (o *object) str(key, v string) { o.raw(key, jsonString(v)) }

func (o *object) bytes() []byte {
	sort.SliceStable(o.members, func(i, j int) bool { return o.members[i].key < o.members[j].key })
	var b []byte
	b = append(b, '{')
	for i, m := range o.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, m.key)
		b = append(b, ':')
		b = append(b, m.raw...)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as Python's json.dumps with ensure_ascii writes it:
// only printable ASCII stays as it is, '"' and '\\' and the usual control
// characters get their short escapes, everything else \uXXXX (UTF-16 surrogate
// pairs beyond the BMP). Invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r >= 0x20 && r < 0x7f:
			b = append(b, byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r > 0xffff:
			r -= 0x10000
			b = appendU(b, 0xd800+(r>>10))
			b = appendU(b, 0xdc00+(r&0x3ff))
		default:
			b = appendU(b, r)
		}
	}
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

func jsonString(s string) []byte { return appendJSONString(nil, s) }

func jsonStringPtr(p *string) []byte {
	if p == nil {
		return []byte("null")
	}
	return jsonString(*p)
}

func jsonStringOrNull(s string) []byte {
	if s == "" {
		return []byte("null")
	}
	return jsonString(s)
}

func jsonStrings(l []string) []byte {
	b := []byte{'['}
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	return append(b, ']')
}

func jsonTime(t time.Time) []byte {
	if t.IsZero() {
		return []byte("null")
	}
	return jsonString(t.UTC().Format(TimeLayout))
}

// canonicalJSON re-encodes a JSON value as Flask answers it: objects' keys sorted
// at every depth, compact, strings escaped as appendJSONString. Numbers keep their
// literal (Python would print 1E5 as 100000.0). Invalid JSON renders as {}.
func canonicalJSON(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []byte("{}")
	}
	return appendCanonical(nil, v)
}

func appendCanonical(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case json.Number:
		return append(b, v...)
	case string:
		return appendJSONString(b, v)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCanonical(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendCanonical(b, v[k])
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}
