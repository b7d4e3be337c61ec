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
	o := newSortedObject(29)
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
type sortedObject struct{ members []objMember }

func newSortedObject(n int) *sortedObject { return &sortedObject{members: make([]objMember, 0, n)} }

func (o *sortedObject) raw(key string, v []byte) { o.members = append(o.members, objMember{key, v}) }

func (o *sortedObject) str(key, v string) { o.raw(key, jsonString(v)) }

func (o *sortedObject) bytes() []byte {
	sort.SliceStable(o.members, func(i, j int) bool { return o.members[i].key < o.members[j].key })
	var b []byte
	b = append(b, '{')
	for i, m := range o.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPyString(b, m.key)
		b = append(b, ':')
		b = append(b, m.raw...)
	}
	return append(b, '}')
}

func jsonString(s string) []byte { return appendPyString(nil, s) }

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
		b = appendPyString(b, v)
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
		return appendPyString(b, v)
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
			b = appendPyString(b, k)
			b = append(b, ':')
			b = appendCanonical(b, v[k])
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}
