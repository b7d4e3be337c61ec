package alerta

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
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
	p := &jsonParser{in: b, spaced: spaced, emit: emit, seed: maphash.MakeSeed()}
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

// jsonParser is a recursive-descent JSON parser that writes its output as it reads.
type jsonParser struct {
	seed   maphash.Seed
	in     []byte
	pos    int
	out    []byte
	spaced bool
	emit   bool
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) write(s string) {
	if p.emit {
		p.out = append(p.out, s...)
	}
}

func (p *jsonParser) sep(spacedForm, compactForm string) {
	if p.spaced {
		p.write(spacedForm)
	} else {
		p.write(compactForm)
	}
}

func (p *jsonParser) value(depth int) error {
	if p.pos >= len(p.in) {
		return p.errorf("unexpected end of input")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.str()
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

func (p *jsonParser) array(depth int) error {
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

// pyMember is one key of an object being written: where its key starts and ends
// and its value ends in the output, and, for a key's first appearance, the index
// of its last (the member whose value it takes).
type pyMember struct {
	start, keyEnd, end, last int32
	first                    bool
}

// indexAt is how many members an object has before its keys are found through a
// hash map rather than by a linear scan.
const indexAt = 16

func (p *jsonParser) object(depth int) error {
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
	var members []pyMember
	// index maps the hash of a key's encoded bytes (equal decoded keys encode to
	// equal bytes) to its first member; it is built only for large objects.
	var index map[uint64]int32
	dup := false
	for {
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return p.errorf("expected a string key in an object")
		}
		start := len(p.out)
		if err := p.str(); err != nil {
			return err
		}
		keyEnd := len(p.out)
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return p.errorf("expected ':' after an object key")
		}
		p.pos++
		p.skipSpace()
		p.sep(": ", ":")
		if err := p.value(depth); err != nil {
			return err
		}
		if p.emit {
			m := pyMember{start: int32(start), keyEnd: int32(keyEnd), end: int32(len(p.out)), last: int32(len(members))}
			if f := p.findKey(members, index, p.out[start:keyEnd]); f >= 0 {
				dup = true
				members[f].last = int32(len(members))
			} else {
				m.first = true
				if index != nil {
					index[maphash.Bytes(p.seed, p.out[start:keyEnd])] = int32(len(members))
				}
			}
			members = append(members, m)
			if index == nil && len(members) == indexAt {
				index = make(map[uint64]int32, 2*indexAt)
				for i, m := range members {
					if m.first {
						index[maphash.Bytes(p.seed, p.out[m.start:m.keyEnd])] = int32(i)
					}
				}
			}
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

// findKey returns the first member whose encoded key is key, or -1.
func (p *jsonParser) findKey(members []pyMember, index map[uint64]int32, key []byte) int {
	if index != nil {
		i, ok := index[maphash.Bytes(p.seed, key)]
		if !ok {
			return -1
		}
		if m := members[i]; bytes.Equal(p.out[m.start:m.keyEnd], key) {
			return int(i)
		}
		// A hash collision (practically never): fall back to the scan.
	}
	for i, m := range members {
		if m.first && bytes.Equal(p.out[m.start:m.keyEnd], key) {
			return i
		}
	}
	return -1
}

// dedup rewrites the members written since begin so that each key appears once, in
// the place it first appeared, with the value it was given last (json.loads).
func (p *jsonParser) dedup(begin int, members []pyMember) {
	region := append([]byte(nil), p.out[begin:]...)
	p.out = p.out[:begin]
	for _, m := range members {
		if !m.first {
			continue
		}
		if len(p.out) > begin {
			p.sep(", ", ",")
		}
		l := members[m.last]
		// The key as first written, the value as last given.
		p.out = append(p.out, region[int(m.start)-begin:int(m.keyEnd)-begin]...)
		p.out = append(p.out, region[int(l.keyEnd)-begin:int(l.end)-begin]...)
	}
}

// str reads a JSON string and, when emitting, writes it with json.dumps' escapes.
// A lone surrogate escape (\ud800 with no partner) is written back as the same
// escape, as Python does.
func (p *jsonParser) str() error {
	p.pos++ // opening quote
	p.emitByte('"')
	for {
		// Copy a run of plain printable ASCII at once.
		run := p.pos
		for p.pos < len(p.in) {
			c := p.in[p.pos]
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x7f {
				break
			}
			p.pos++
		}
		if p.emit {
			p.out = append(p.out, p.in[run:p.pos]...)
		}
		if p.pos >= len(p.in) {
			return p.errorf("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			p.emitByte('"')
			return nil
		case c < 0x20:
			return p.errorf("control character in a string")
		case c == '\\':
			if p.pos+1 >= len(p.in) {
				return p.errorf("unterminated string")
			}
			e := p.in[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.emitRune(rune(unescape[e]))
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return p.errorf("invalid \\u escape")
				}
				if r >= 0xd800 && r < 0xdc00 && p.pos+6 <= len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					if r2, ok := p.hex4(); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
						p.emitRune(utf16.DecodeRune(r, r2))
						continue
					}
					p.pos = save
				}
				// A lone surrogate is written as its escape, like any other BMP
				// code point.
				p.emitRune(r)
			default:
				return p.errorf("invalid escape")
			}
		case c == 0x7f:
			p.pos++
			p.emitRune(0x7f)
		default:
			r, n := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return errUTF8
			}
			p.pos += n
			p.emitRune(r)
		}
	}
}

// unescape maps the character after a backslash to the byte it stands for.
var unescape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func (p *jsonParser) emitByte(c byte) {
	if p.emit {
		p.out = append(p.out, c)
	}
}

// emitRune writes one code point (or lone surrogate) with json.dumps' escapes.
func (p *jsonParser) emitRune(r rune) {
	if p.emit {
		p.out = appendPyRune(p.out, r)
	}
}

func (p *jsonParser) hex4() (rune, bool) {
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

func (p *jsonParser) number() error {
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
// Invalid UTF-8 (which no decoded JSON string holds) comes out as \ufffd.
func appendPyString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			b = appendPyRune(b, rune(c))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		b = appendPyRune(b, r)
	}
	return append(b, '"')
}

// appendPyRune appends one code point as json.dumps writes it inside a string:
// printable ASCII as itself but for the escaped quote and backslash, the short
// escapes, and \uXXXX (a surrogate pair above U+FFFF) for everything else.
func appendPyRune(b []byte, r rune) []byte {
	switch {
	case r == '"':
		return append(b, '\\', '"')
	case r == '\\':
		return append(b, '\\', '\\')
	case r == '\n':
		return append(b, '\\', 'n')
	case r == '\r':
		return append(b, '\\', 'r')
	case r == '\t':
		return append(b, '\\', 't')
	case r == '\b':
		return append(b, '\\', 'b')
	case r == '\f':
		return append(b, '\\', 'f')
	case r >= 0x20 && r < 0x7f:
		return append(b, byte(r))
	case r > 0xffff:
		r1, r2 := utf16.EncodeRune(r)
		return appendU(appendU(b, r1), r2)
	default:
		return appendU(b, r)
	}
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
