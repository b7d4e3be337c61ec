// Package text shortens texts the adapters bound (a resource, a detail field, a
// reason) without splitting a character. It does not redact: a text a person or a
// peer may read goes through adapters/secret, which cuts with it after redacting.
package text

import "unicode/utf8"

// Ellipsis marks where Bound cut a text.
const Ellipsis = "…"

// Cut returns the longest prefix of s of at most n bytes that ends at a character
// boundary (s itself when it fits; "" when n is not positive).
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Bound returns s when it has at most n bytes, else its start and Ellipsis in at
// most n bytes.
func Bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Cut(s, n-len(Ellipsis)) + Ellipsis
}
