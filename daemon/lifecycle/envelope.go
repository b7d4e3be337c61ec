package lifecycle

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is the envelope's time: RFC 3339 in UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Data is an event's data: members in catalogue order. Values are string, int64,
// []string or nil (null).
type Data struct {
	names  []string
	values []any
	// The first members live here: no catalogue type has more than six, so making
	// one allocates nothing more than the Data itself.
	nbuf [8]string
	vbuf [8]any
}

// Set appends a member; its name must be one of the type's catalogue fields.
func (d *Data) Set(name string, v any) *Data {
	if d.names == nil {
		d.names, d.values = d.nbuf[:0], d.vbuf[:0]
	}
	d.names = append(d.names, name)
	d.values = append(d.values, v)
	return d
}

// Get returns the member called name.
func (d *Data) Get(name string) (any, bool) {
	for i, n := range d.names {
		if n == name {
			return d.values[i], true
		}
	}
	return nil, false
}

// check reports a data member the catalogue entry of typ does not list, a listed
// one that is missing, or a value of the wrong JSON type: the catalogue is the one
// definition, so this is a programming error the tests catch.
func (d *Data) check(typ string) error {
	et, ok := Lookup(typ)
	if !ok {
		return fmt.Errorf("lifecycle: type %q is not in the catalogue", typ)
	}
	if len(d.names) != len(et.Data) {
		return fmt.Errorf("lifecycle: %s has %d data members, the catalogue %d", typ, len(d.names), len(et.Data))
	}
	for i, f := range et.Data {
		if d.names[i] != f.Name {
			return fmt.Errorf("lifecycle: %s data member %d is %q, the catalogue says %q", typ, i, d.names[i], f.Name)
		}
		v := d.values[i]
		switch {
		case v == nil && f.Nullable:
		case f.Type == String && isType[string](v), f.Type == Integer && isType[int64](v), f.Type == Strings && isType[[]string](v):
		default:
			return fmt.Errorf("lifecycle: %s.%s is %T, the catalogue says %s", typ, f.Name, v, f.Type)
		}
	}
	return nil
}

func isType[T any](v any) bool { _, ok := v.(T); return ok }

// appendJSON writes d as a JSON object.
func (d *Data) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, n := range d.names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, n)
		b = append(b, ':')
		switch v := d.values[i].(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			b = appendString(b, v)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case []string:
			b = append(b, '[')
			for j, s := range v {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, s)
			}
			b = append(b, ']')
		}
	}
	return append(b, '}')
}

// appendString writes s as a JSON string (encoding/json's escaping: valid UTF-8
// out whatever comes in, <, > and & escaped). Printable ASCII without those, the
// common case (names, ids, versions), is copied as it is.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Envelope is one CloudEvents 1.0 event, structured JSON mode.
type Envelope struct {
	ID       string
	Source   string
	Type     string
	Time     time.Time
	CoreName string
	Data     *Data
}

// Encode returns the envelope's JSON document, members in the spec's order:
// specversion, id, source, type, time, datacontenttype, corename, data.
func (e *Envelope) Encode() []byte {
	b := make([]byte, 0, 384)
	b = append(b, `{"specversion":"1.0","id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, TimeLayout)
	b = append(b, `","datacontenttype":"application/json","corename":`...)
	b = appendString(b, e.CoreName)
	b = append(b, `,"data":`...)
	if e.Data == nil {
		b = append(b, "{}"...)
	} else {
		b = e.Data.appendJSON(b)
	}
	return append(b, '}')
}

// SourceURI is the envelope's source: edgerelay://<corename>/<node id>, with the
// characters of corename (and of the node id) that a URI authority (a path
// segment) does not allow percent-encoded (RFC 3986).
func SourceURI(corename, nodeID string) string {
	return "edgerelay://" + escapeAuthority(corename) + "/" + url.PathEscape(nodeID)
}

// escapeAuthority percent-encodes every byte of s that is not an unreserved
// character or a sub-delimiter (RFC 3986 §3.2.2 reg-name): ':' '@' '/' '?' '#' '['
// ']' '%', space and everything non-ASCII included.
func escapeAuthority(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// NewID returns a ULID: 48 bits of milliseconds since the epoch, then 80 random
// bits, in Crockford's base32 (26 characters, sortable by time).
func NewID(t time.Time) string {
	var u [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		u[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(u[6:])
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var out [26]byte
	// 128 bits as 26 base32 digits, the first digit holding the top 3 bits.
	var acc uint64
	bits := 0
	j := 25
	for i := 15; i >= 0; i-- {
		acc |= uint64(u[i]) << bits
		bits += 8
		for bits >= 5 && j >= 0 {
			out[j] = alphabet[acc&31]
			acc >>= 5
			bits -= 5
			j--
		}
	}
	if j == 0 {
		out[0] = alphabet[acc&31]
	}
	return string(out[:])
}
