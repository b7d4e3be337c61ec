package alerta

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxBody is the largest JSON text the model parses or re-encodes (PyJSON, and the
// Decode functions through it). A receiver limits its bodies to this or less before
// it decodes them, so one request costs a few times MaxBody at most.
const MaxBody = 1 << 20

// MaxDepth bounds how deeply arrays and objects may nest in any JSON the model
// parses. Alerta (Python's recursion limit) allows more; no alert needs it, and a
// bound keeps a hostile body from costing stack.
const MaxDepth = 64

// Errors of the JSON parser. They say what is wrong, never echo the input.
var (
	errTooLarge = fmt.Errorf("JSON text larger than %d bytes", MaxBody)
	errTooDeep  = fmt.Errorf("JSON nested deeper than %d levels", MaxDepth)
	errRange    = errors.New("JSON number out of range")
	errUTF8     = errors.New("JSON text is not valid UTF-8")
)

// PyJSON re-encodes one JSON value the way Python's json.dumps does with its
// defaults, as Alerta's forwarder puts its bodies on the wire (§2): separators ", "
// and ": ", every non-ASCII character (and DEL) as a lowercase \uXXXX escape
// (surrogate pairs above U+FFFF), the escapes \" \\ \n \r \t \b \f and \u00XX for
// the other control characters, '/' left alone. Object keys keep their order; a key
// that appears twice keeps its first place and its last value, as json.loads does.
// Numbers come out as Python prints them: integers as written ("-0" as "0"), other
// numbers as repr(float) ("1.0", "1e+16", "1e-05"). The input may have any
// whitespace; it must be one complete JSON value, at most MaxBody bytes, nested at
// most MaxDepth deep.
func PyJSON(compact []byte) ([]byte, error) {
	return transcode(compact, true, true)
}

// compactJSON re-encodes one JSON value without whitespace, with the same escapes,
// key order and number forms as PyJSON: the canonical form the model stores (an
// Alert's Attributes).
func compactJSON(b []byte) ([]byte, error) {
	return transcode(b, false, true)
}

// checkJSON reports whether b is one JSON value the model accepts (size, depth,
// UTF-8, grammar, numbers in range) without building any output.
func checkJSON(b []byte) error {
	_, err := transcode(b, false, false)
	return err
}

// transcode parses b and, when emit is set, writes it again in py style (spaced)
// or compact style.
func transcode(b []byte, spaced, emit bool) ([]byte, error) {
	if len(b) > MaxBody {
		return nil, errTooLarge
	}
	p := &parser{in: b, spaced: spaced, emit: emit}
	if emit {
		p.out = make([]byte, 0, len(b)+len(b)/4+16)
	}
	p.skipSpace()
	if err := p.value(0); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.in) {
		return nil, p.errorf("unexpected data after the JSON value")
	}
	return p.out, nil
}

// parser is a recursive-descent JSON parser that writes its output as it reads.
type parser struct {
	in     []byte
	pos    int
	out    []byte
	spaced bool
	emit   bool
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) write(s string) {
	if p.emit {
		p.out = append(p.out, s...)
	}
}

func (p *parser) sep(spacedForm, compactForm string) {
	if p.spaced {
		p.write(spacedForm)
	} else {
		p.write(compactForm)
	}
}

func (p *parser) value(depth int) error {
	if p.pos >= len(p.in) {
		return p.errorf("unexpected end of input")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return err
		}
		if p.emit {
			p.out = appendPyString(p.out, s)
		}
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.in[p.pos:min(len(p.in), p.pos+5)]), lit) {
				p.pos += len(lit)
				p.write(lit)
				return nil
			}
		}
		return p.errorf("unexpected character %q", c)
	}
}

func (p *parser) array(depth int) error {
	if depth > MaxDepth {
		return errTooDeep
	}
	p.pos++ // '['
	p.write("[")
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		p.write("]")
		return nil
	}
	for {
		p.skipSpace()
		if err := p.value(depth); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.in) {
			return p.errorf("unexpected end of input in an array")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
			p.sep(", ", ",")
		case ']':
			p.pos++
			p.write("]")
			return nil
		default:
			return p.errorf("expected ',' or ']' in an array")
		}
	}
}

// member is one key of an object being written: its decoded name and where its
// key and value start and end in the output.
type member struct {
	key        string
	start, end int
}

func (p *parser) object(depth int) error {
	if depth > MaxDepth {
		return errTooDeep
	}
	p.pos++ // '{'
	p.write("{")
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		p.write("}")
		return nil
	}
	begin := len(p.out)
	var members []member
	var index map[string]int // built only when an object grows large
	dup := false
	for {
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return p.errorf("expected a string key in an object")
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return p.errorf("expected ':' after an object key")
		}
		p.pos++
		p.skipSpace()
		start := len(p.out)
		if p.emit {
			p.out = appendPyString(p.out, key)
		}
		p.sep(": ", ":")
		if err := p.value(depth); err != nil {
			return err
		}
		if p.emit {
			// Duplicate keys are rare; note them and rebuild the object at its end.
			if !dup {
				if index == nil && len(members) >= 16 {
					index = make(map[string]int, 2*len(members))
					for i, m := range members {
						index[m.key] = i
					}
				}
				if index != nil {
					_, dup = index[key]
				} else {
					for _, m := range members {
						if m.key == key {
							dup = true
							break
						}
					}
				}
				if index != nil && !dup {
					index[key] = len(members)
				}
			}
			members = append(members, member{key: key, start: start, end: len(p.out)})
		}
		p.skipSpace()
		if p.pos >= len(p.in) {
			return p.errorf("unexpected end of input in an object")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
			p.sep(", ", ",")
		case '}':
			p.pos++
			if dup {
				p.dedup(begin, members)
			}
			p.write("}")
			return nil
		default:
			return p.errorf("expected ',' or '}' in an object")
		}
	}
}

// dedup rewrites the members written since begin so that each key appears once, in
// the place it first appeared, with the value it was given last (json.loads).
func (p *parser) dedup(begin int, members []member) {
	region := append([]byte(nil), p.out[begin:]...)
	last := make(map[string]int, len(members))
	for i, m := range members {
		last[m.key] = i
	}
	p.out = p.out[:begin]
	written := make(map[string]bool, len(last))
	for _, m := range members {
		if written[m.key] {
			continue
		}
		written[m.key] = true
		if len(p.out) > begin {
			p.sep(", ", ",")
		}
		l := members[last[m.key]]
		p.out = append(p.out, region[l.start-begin:l.end-begin]...)
	}
}

// str reads a JSON string and returns its decoded text. A lone surrogate escape
// (\ud800 with no partner) is kept as its three-byte WTF-8 form, so that
// appendPyString writes it back as the same escape, as Python does.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes and only ASCII.
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		if c == '"' {
			s := string(p.in[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
		p.pos++
	}
	var sb []byte
	sb = append(sb, p.in[start:p.pos]...)
	for {
		if p.pos >= len(p.in) {
			return "", p.errorf("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(sb), nil
		case c < 0x20:
			return "", p.errorf("control character in a string")
		case c == '\\':
			if p.pos+1 >= len(p.in) {
				return "", p.errorf("unterminated string")
			}
			e := p.in[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				sb = append(sb, e)
			case 'b':
				sb = append(sb, '\b')
			case 'f':
				sb = append(sb, '\f')
			case 'n':
				sb = append(sb, '\n')
			case 'r':
				sb = append(sb, '\r')
			case 't':
				sb = append(sb, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.errorf("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					if r < 0xdc00 && p.pos+6 <= len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
						save := p.pos
						p.pos += 2
						if r2, ok := p.hex4(); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
							sb = utf8.AppendRune(sb, utf16.DecodeRune(r, r2))
							continue
						}
						p.pos = save
					}
					sb = appendWTF8(sb, r)
					continue
				}
				sb = utf8.AppendRune(sb, r)
			default:
				return "", p.errorf("invalid escape")
			}
		case c < 0x80:
			sb = append(sb, c)
			p.pos++
		default:
			r, n := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return "", errUTF8
			}
			sb = append(sb, p.in[p.pos:p.pos+n]...)
			p.pos += n
		}
	}
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.in) {
		return 0, false
	}
	var r rune
	for _, c := range p.in[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// appendWTF8 appends a lone surrogate as the three bytes UTF-8 would give it if it
// were allowed; Go strings may hold them, and they are invalid UTF-8 to everyone
// else (a Go conversion to runes makes each byte U+FFFD).
func appendWTF8(b []byte, r rune) []byte {
	return append(b, byte(0xe0|r>>12), byte(0x80|(r>>6)&0x3f), byte(0x80|r&0x3f))
}

// wtf8Surrogate reports whether s starts with a lone surrogate in WTF-8 form and
// returns it.
func wtf8Surrogate(s string) (rune, bool) {
	if len(s) >= 3 && s[0] == 0xed && s[1] >= 0xa0 && s[1] <= 0xbf && s[2] >= 0x80 && s[2] <= 0xbf {
		return rune(s[0]&0x0f)<<12 | rune(s[1]&0x3f)<<6 | rune(s[2]&0x3f), true
	}
	return 0, false
}

func (p *parser) number() error {
	start := p.pos
	if p.in[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if n := digits(); n == 0 {
		return p.errorf("invalid number")
	} else if n > 1 && p.in[intStart] == '0' {
		return p.errorf("invalid number: leading zero")
	}
	isInt := true
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		p.pos++
		isInt = false
		if digits() == 0 {
			return p.errorf("invalid number")
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		p.pos++
		isInt = false
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return p.errorf("invalid number")
		}
	}
	lit := string(p.in[start:p.pos])
	if isInt {
		if lit == "-0" {
			lit = "0"
		}
		p.write(lit)
		return nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
		// Python would print Infinity, which is not JSON.
		return errRange
	}
	p.write(pyFloat(f))
	return nil
}

// pyFloat formats f as Python's repr(float): the shortest digits that round-trip,
// in fixed notation when the decimal exponent is in [-4, 16), otherwise as
// d.ddde±XX; an integral value in fixed notation ends in ".0".
func pyFloat(f float64) string {
	e := strconv.FormatFloat(f, 'e', -1, 64) // "-d.ddde±XX"
	neg := strings.HasPrefix(e, "-")
	e = strings.TrimPrefix(e, "-")
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	digs := strings.Replace(mant, ".", "", 1)
	var s string
	if exp >= -4 && exp < 16 {
		point := exp + 1
		switch {
		case point <= 0:
			s = "0." + strings.Repeat("0", -point) + digs
		case point >= len(digs):
			s = digs + strings.Repeat("0", point-len(digs)) + ".0"
		default:
			s = digs[:point] + "." + digs[point:]
		}
	} else {
		s = digs[:1]
		if len(digs) > 1 {
			s += "." + digs[1:]
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		s += fmt.Sprintf("e%s%02d", sign, exp)
	}
	if neg {
		s = "-" + s
	}
	return s
}

const hexDigits = "0123456789abcdef"

// appendPyString appends s as a JSON string with json.dumps' ensure_ascii escapes.
// Invalid UTF-8 other than a WTF-8 lone surrogate comes out as \ufffd.
func appendPyString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				b = append(b, '\\', '"')
			case c == '\\':
				b = append(b, '\\', '\\')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20 || c == 0x7f:
				b = appendU(b, rune(c))
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		if r, ok := wtf8Surrogate(s[i:]); ok {
			b = appendU(b, r)
			i += 3
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			b = appendU(b, r1)
			b = appendU(b, r2)
			continue
		}
		b = appendU(b, r)
	}
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
