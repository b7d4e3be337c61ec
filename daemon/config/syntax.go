package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// hasLine matches a yaml message that starts with its line.
var hasLine = regexp.MustCompile(`^line \d+: `)

// syntaxProblem is the problem of a document that does not parse as YAML: yaml's
// message, always with the line at fault. yaml.v3 leaves the line out when its mark
// is on the first line, never prints it for a character its reader refuses (invalid
// UTF-8, a control character: it keeps only a byte offset) and has none for an alias
// of an unknown anchor; those lines are found here.
func syntaxProblem(b []byte, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	switch {
	case hasLine.MatchString(msg):
		return msg
	case strings.Contains(msg, "UTF-8") || strings.Contains(msg, "Unicode") || strings.Contains(msg, "control character"):
		if off, ok := badChar(b); ok {
			return fmt.Sprintf("line %d: %s (byte %d)", lineAt(b, off), msg, off)
		}
	case strings.HasPrefix(msg, "unknown anchor '") || strings.HasPrefix(msg, "anchor '"):
		name, _, _ := strings.Cut(msg[strings.IndexByte(msg, '\'')+1:], "'")
		if off := bytes.Index(b, []byte("*"+name)); name != "" && off >= 0 {
			return fmt.Sprintf("line %d: %s", lineAt(b, off), msg)
		}
	}
	return "line 1: " + msg
}

// badChar returns the offset of the first character YAML does not allow in a UTF-8
// stream: an invalid UTF-8 sequence, or a code point outside YAML 1.2's printable
// set (tab, line breaks, #x20-#x7E, #x85, #xA0-#xD7FF, #xE000-#xFFFD, #x10000 on).
func badChar(b []byte) (int, bool) {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return i, true
		case r == 0x09, r == 0x0A, r == 0x0D, r >= 0x20 && r <= 0x7E, r == 0x85,
			r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000:
		default:
			return i, true
		}
		i += n
	}
	return 0, false
}

// lineAt returns the 1-based line of byte offset off in b.
func lineAt(b []byte, off int) int { return 1 + bytes.Count(b[:off], []byte("\n")) }

// decodeProblem is the problem of a decode of n that yaml aborted without a line
// (an invalid !!binary value, a merge key "<<" of a scalar, an explicit tag the value
// does not fit): its message with the line of the innermost node that cannot be
// decoded on its own.
func decodeProblem(n *yaml.Node, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if hasLine.MatchString(msg) {
		return msg
	}
	if bad := undecodable(n, 0); bad != nil {
		return fmt.Sprintf("line %d: %s", bad.Line, msg)
	}
	return fmt.Sprintf("line %d: %s", n.Line, msg)
}

// undecodable returns the innermost node under n that does not decode into an
// interface value, or nil when n decodes. Aliases are not followed (their target is
// checked where it is written), and the walk stops at a depth no configuration needs.
func undecodable(n *yaml.Node, depth int) *yaml.Node {
	var v any
	if n.Kind == yaml.AliasNode || depth > 64 || n.Decode(&v) == nil {
		return nil
	}
	for _, c := range n.Content {
		if bad := undecodable(c, depth+1); bad != nil {
			return bad
		}
	}
	return n
}
