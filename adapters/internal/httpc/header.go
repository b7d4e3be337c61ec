package httpc

import "strings"

// ValidHeaderValue reports whether s has no control characters other than tab, the
// ones HTTP forbids in a header value.
func ValidHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// HeaderValue returns v with the control characters HTTP forbids in a header value
// replaced by spaces (v itself, without a copy, when it has none): a value taken
// from an event must not make the transport refuse the request on every retry.
func HeaderValue(v string) string {
	if ValidHeaderValue(v) {
		return v
	}
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return ' '
		}
		return r
	}, v)
}
