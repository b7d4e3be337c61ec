// Package jsonscan validates JSON and locates the members of an object in one pass,
// without allocating: the ilert mapping and sink check every event body, and
// encoding/json.Valid followed by a gjson parse read it three or four times.
//
// Validity is encoding/json's (RFC 8259 grammar, at most 10,000 nested arrays and
// objects); whether every string is valid UTF-8, which encoding/json does not check,
// is reported apart. Strings are decoded as gjson decodes them (Unquote), so that
// callers moving from gjson read the same values.
package jsonscan

import (
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Kind is the kind of a JSON value; the zero Kind is no value.
type Kind uint8

// The kinds of JSON values.
const (
	Null Kind = iota + 1
	False
	True
	Number
	String
	Object
	Array
)

// Value locates a JSON value, or an object's key, in the scanned bytes: data[Start:End]
// is its text. The zero Value is an absent one.
type Value struct {
	Start, End int
	Kind       Kind
	// Escaped is true for a String holding backslash escapes.
	Escaped bool
}

// Info is what a scan found besides validity.
type Info struct {
	// Spaced is true when there is white space outside strings (the text is not
	// compact).
	Spaced bool
	// BadUTF8 is true when a string (key or value) holds invalid UTF-8.
	BadUTF8 bool
}

// maxDepth is encoding/json's nesting limit: it refuses deeper values.
const maxDepth = 10000

// Valid reports whether data is one JSON value, white space around it allowed, as
// encoding/json.Valid does.
func Valid(data []byte) (Info, bool) {
	s := scanner{data: data}
	v, ok := s.value(0, 0)
	if !ok || s.space(v.End) != len(data) {
		return s.info, false
	}
	return s.info, true
}

// Members reports whether data is one JSON object, white space around it allowed, and
// calls member for each of its members in order. It may have called member for
// some members before finding data invalid.
func Members(data []byte, member func(key, val Value)) (Info, bool) {
	s := scanner{data: data}
	i := s.space(0)
	if i == len(data) || data[i] != '{' {
		return s.info, false
	}
	if i = s.space(i + 1); i < len(data) && data[i] == '}' {
		return s.info, s.space(i+1) == len(data)
	}
	for {
		var key, val Value
		var ok bool
		if key, i, ok = s.key(i); !ok {
			return s.info, false
		}
		if val, ok = s.value(i, 1); !ok {
			return s.info, false
		}
		member(key, val)
		switch i = s.space(val.End); {
		case i == len(data):
			return s.info, false
		case data[i] == ',':
			i = s.space(i + 1)
		case data[i] == '}':
			return s.info, s.space(i+1) == len(data)
		default:
			return s.info, false
		}
	}
}

// Unquote returns the value of text, a String's text, with its escapes decoded as
// gjson decodes them; without escapes it is a substring of text.
func Unquote(text string) string {
	if strings.IndexByte(text, '\\') < 0 {
		return text[1 : len(text)-1]
	}
	return gjson.Parse(text).Str
}

// Is reports whether v, a String in data, is name once its escapes are decoded.
func (v Value) Is(data []byte, name string) bool {
	if !v.Escaped {
		return string(data[v.Start+1:v.End-1]) == name
	}
	return Unquote(string(data[v.Start:v.End])) == name
}

// scanner holds one scan's input and findings.
type scanner struct {
	data []byte
	info Info
}

// space returns the index of the first byte at or after i that is not white space.
func (s *scanner) space(i int) int {
	start := i
	for i < len(s.data) {
		switch s.data[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	if i > start {
		s.info.Spaced = true
	}
	return i
}

// key scans an object's key and its colon at data[i]; it returns the key and the
// index after the colon.
func (s *scanner) key(i int) (Value, int, bool) {
	if i == len(s.data) || s.data[i] != '"' {
		return Value{}, i, false
	}
	key, ok := s.str(i)
	if !ok {
		return key, i, false
	}
	if i = s.space(key.End); i == len(s.data) || s.data[i] != ':' {
		return key, i, false
	}
	return key, i + 1, true
}

// value scans the value at or after i (white space skipped), inside depth open
// arrays and objects.
func (s *scanner) value(i, depth int) (Value, bool) {
	i = s.space(i)
	if i == len(s.data) {
		return Value{}, false
	}
	switch c := s.data[i]; c {
	case '{', '[':
		end, ok := s.container(i, depth)
		v := Value{Start: i, End: end, Kind: Object}
		if c == '[' {
			v.Kind = Array
		}
		return v, ok
	case '"':
		return s.str(i)
	case 't':
		return s.literal(i, "true", True)
	case 'f':
		return s.literal(i, "false", False)
	case 'n':
		return s.literal(i, "null", Null)
	}
	end, ok := s.number(i)
	return Value{Start: i, End: end, Kind: Number}, ok
}

// container scans the array or object opening at data[i], inside depth open ones,
// and returns the index after it. Nested containers are kept on a stack rather than
// scanned by recursion, so a hostile payload cannot grow the goroutine's stack.
func (s *scanner) container(i, depth int) (int, bool) {
	data := s.data
	var buf [32]byte
	open := buf[:0] // the closing byte of each open container, innermost last
	for {
		// data[i] starts a value.
		if c := data[i]; c == '{' || c == '[' {
			if depth+len(open) >= maxDepth {
				return i, false
			}
			closer := c + 2 // '}' or ']'
			if i = s.space(i + 1); i < len(data) && data[i] == closer {
				i++
			} else {
				open = append(open, closer)
				var ok bool
				if i, ok = s.element(i, closer); !ok {
					return i, false
				}
				continue
			}
		} else {
			v, ok := s.value(i, 0) // a scalar: depth does not matter
			if !ok {
				return v.End, false
			}
			i = v.End
		}
		// A value ended at i: close what ends here, up to a comma.
		for {
			if len(open) == 0 {
				return i, true
			}
			closer := open[len(open)-1]
			if i = s.space(i); i == len(data) {
				return i, false
			}
			if data[i] == closer {
				open = open[:len(open)-1]
				i++
				continue
			}
			if data[i] != ',' {
				return i, false
			}
			var ok bool
			if i, ok = s.element(s.space(i+1), closer); !ok {
				return i, false
			}
			break
		}
	}
}

// element steps to the next element of an open container at data[i]: past the key and
// colon in an object (closer '}'), and past white space. It returns the index of the
// element's value.
func (s *scanner) element(i int, closer byte) (int, bool) {
	if closer == '}' {
		var ok bool
		if _, i, ok = s.key(i); !ok {
			return i, false
		}
	}
	i = s.space(i)
	return i, i < len(s.data)
}

// plain marks the bytes a string holds as they are: printable ASCII other than the
// quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans the string opening at data[i].
func (s *scanner) str(i int) (Value, bool) {
	data := s.data
	v := Value{Start: i, Kind: String}
	ascii := true
	for i++; i < len(data); {
		c := data[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			if !ascii && !utf8.Valid(data[v.Start+1:i]) {
				s.info.BadUTF8 = true
			}
			v.End = i + 1
			return v, true
		case c == '\\':
			v.Escaped = true
			if i+1 == len(data) {
				return v, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !hex4(data[i+2:i+6]) {
					return v, false
				}
				i += 6
			default:
				return v, false
			}
		case c < 0x20:
			return v, false
		default:
			ascii = false
			i++
		}
	}
	v.End = i
	return v, false
}

// hex4 reports whether b is four hexadecimal digits.
func hex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// literal scans true, false or null at data[i].
func (s *scanner) literal(i int, lit string, k Kind) (Value, bool) {
	end := i + len(lit)
	ok := end <= len(s.data) && string(s.data[i:end]) == lit
	return Value{Start: i, End: end, Kind: k}, ok
}

// number scans the number at data[i]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number(i int) (int, bool) {
	data := s.data
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i == len(data):
		return i, false
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		i = digits(data, i+1)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		if i++; i == len(data) || !isDigit(data[i]) {
			return i, false
		}
		i = digits(data, i+1)
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		if i++; i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i == len(data) || !isDigit(data[i]) {
			return i, false
		}
		i = digits(data, i+1)
	}
	return i, true
}

// digits returns the index of the first byte at or after i that is not a digit.
func digits(data []byte, i int) int {
	for i < len(data) && isDigit(data[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
