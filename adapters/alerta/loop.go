package alerta

import "strings"

// LoopAppend returns the X-Alerta-Loop value to send onward (§3.2): the incoming
// header with this node's identity appended after a comma (no space), or the
// identity alone when there was no header. An empty identity leaves the header as
// it was.
func LoopAppend(header, identity string) string {
	switch {
	case identity == "":
		return header
	case header == "":
		return identity
	default:
		return header + "," + identity
	}
}

// LoopHas is this node's receive decision (§3.4, recommendation 3): whether
// identity is one of the header's elements. Elements are split on ',' and, like
// the identity, have spaces and trailing slashes trimmed; scheme and host compare
// case-insensitively, the path exactly. So "http://A:1/" matches "http://a:1", but
// "http://a:10" does not match "http://a:1" (Alerta's substring test would). An
// empty identity matches nothing.
func LoopHas(header, identity string) bool {
	id := normalizeLoopURL(identity)
	if id == "" || header == "" {
		return false
	}
	for el := range strings.SplitSeq(header, ",") {
		if normalizeLoopURL(el) == id {
			return true
		}
	}
	return false
}

// LoopHasCompat is Alerta's receive test (§3.3): the identity is a substring of the
// raw header. "http://127.0.0.1:180801" and "xhttp://127.0.0.1:18080/api" both
// contain "http://127.0.0.1:18080".
func LoopHasCompat(header, identity string) bool {
	return header != "" && identity != "" && strings.Contains(header, identity)
}

// LoopSkip is the sender's decision (§3.2 step 2, §3.4 recommendation 2): skip a
// destination whose configured URL is already in the header, as an element
// (LoopHas) or, as Alerta tests it, as a substring.
func LoopSkip(header, destURL string) bool {
	return LoopHas(header, destURL) || LoopHasCompat(header, destURL)
}

// normalizeLoopURL trims spaces and trailing slashes and lowercases the scheme
// and the authority (what lies between "://" and the next '/', '?' or '#').
func normalizeLoopURL(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	return strings.ToLower(s[:i+3+end]) + rest[end:]
}
