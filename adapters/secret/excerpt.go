package secret

import (
	"errors"
	"net/url"

	"github.com/edgerelay/edgerelay/adapters/internal/text"
)

// Ellipsis marks where Excerpt cut a text.
const Ellipsis = "…"

// Cut returns s redacted (see [Redact]) and then cut to at most n bytes at a
// character boundary. Every place that shortens a text a person or a peer may read
// (an answer's excerpt, an error kept as a reason, a label) goes through Cut or
// Excerpt, so that a secret is redacted whole before the cut could leave a piece of
// it that no longer matches.
func Cut(s string, n int) string { return cut(Redact(s), n) }

// cut cuts s, already redacted, to at most n bytes at a character boundary.
func cut(s string, n int) string { return text.Cut(s, n) }

// Excerpt is Cut with the cut marked: a text longer than n bytes is cut to at most
// n bytes including a trailing Ellipsis.
func Excerpt(s string, n int) string {
	s = Redact(s)
	if len(s) <= n {
		return s
	}
	return cut(s, n-len(Ellipsis)) + Ellipsis
}

// RedactURL returns raw with any userinfo (user name and password) removed. A value
// that does not parse as a URL is returned as "<unparsable url>" because it may hold
// a secret in a place the parser did not recognise.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable url>"
	}
	if u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// ParseURL is url.Parse for a configured URL: it registers the URL's userinfo in
// the Default set (even when the URL does not parse), and its error never holds the
// URL (a *url.Error prints it whole, password included), only what is wrong with it.
func ParseURL(raw string) (*url.URL, error) {
	RegisterURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return nil, URLError(err)
	}
	return u, nil
}

// URLError returns err without the URL a *url.Error in it carries: "invalid URL:
// <what is wrong>", redacted. Other errors are returned redacted (see [Scrub]).
func URLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &urlError{msg: "invalid URL: " + Redact(ue.Err.Error()), err: ue.Err}
	}
	return Scrub(err)
}

type urlError struct {
	msg string
	err error
}

func (e *urlError) Error() string { return e.msg }
func (e *urlError) Unwrap() error { return e.err }
