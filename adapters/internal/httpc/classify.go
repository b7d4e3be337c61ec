package httpc

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// MaxExcerpt bounds the body excerpt a StatusError carries, in bytes.
const MaxExcerpt = 256

// MaxRetryAfter caps a server's Retry-After hint so that one bad answer cannot park
// an outbox for days.
const MaxRetryAfter = time.Hour

// StatusError is an HTTP answer that was not a success. Classify returns it wrapped
// as retryable or permanent; errors.As finds it for callers that need the code.
type StatusError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Excerpt is the start of the response body, at most MaxExcerpt bytes, as
	// printable single-line text.
	Excerpt string
	// Location is the Location header of a 3xx answer, with userinfo removed.
	Location string
}

// Error renders "status 503 Service Unavailable: <excerpt>".
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %d", e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.Location != "" {
		b.WriteString(" to " + e.Location + " (redirects are not followed)")
	}
	if e.Excerpt != "" {
		b.WriteString(": " + e.Excerpt)
	}
	return b.String()
}

// Classify turns an HTTP answer into the sink contract's error classes: nil for
// 2xx; a retryable error for 408, 429 and 5xx, carrying an [adapters.RetryAfter]
// hint when the answer has a valid Retry-After header (seconds or an HTTP date,
// capped at MaxRetryAfter); an [adapters.Permanent] error for every other status.
// body is the response body or its start; the error carries an excerpt of it.
func Classify(resp *http.Response, body []byte) error {
	return classify(resp.StatusCode, resp.Header, body)
}

// fieldGetter is an answer's header: http.Header or *Response.
type fieldGetter interface{ Get(name string) string }

// classify is Classify of an answer with status code and header h.
func classify(code int, h fieldGetter, body []byte) error {
	if code >= 200 && code <= 299 {
		return nil
	}
	se := &StatusError{StatusCode: code, Excerpt: Excerpt(body, MaxExcerpt)}
	if code >= 300 && code <= 399 {
		se.Location = RedactURL(h.Get("Location"))
	}
	if !Retryable(code) {
		return adapters.Permanent(se)
	}
	if d, ok := ParseRetryAfter(h.Get("Retry-After"), time.Now()); ok {
		return adapters.RetryAfter(se, d)
	}
	return se
}

// Retryable reports whether an answer with this non-2xx status may succeed later:
// 408 Request Timeout, 429 Too Many Requests and every 5xx.
func Retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests ||
		(code >= 500 && code <= 599)
}

// ParseRetryAfter parses a Retry-After header value, either delay-seconds or an HTTP
// date (relative to now), into a delay in [0, MaxRetryAfter]. It reports false for an
// empty or malformed value.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter), true
}

// ClassifyTransport marks an error from http.Client.Do (refused connection, reset,
// TLS failure, timeout, cancelled context) as retryable. The URL in a *url.Error is
// rendered without userinfo; the underlying error stays reachable through errors.Is
// and errors.As. ClassifyTransport(nil) is nil.
func ClassifyTransport(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &transportError{op: ue.Op, url: RedactURL(ue.URL), err: ue.Err}
	}
	return &transportError{err: err}
}

// transportError is a retryable failure below HTTP. It never carries the Permanent
// mark.
type transportError struct {
	op, url string
	err     error
}

func (e *transportError) Error() string {
	if e.op == "" {
		return "transport: " + e.err.Error()
	}
	return fmt.Sprintf("%s %s: %v", e.op, e.url, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

// Excerpt returns at most limit bytes of b as one printable line: invalid UTF-8 and
// control characters become spaces, runs of white space collapse, and a cut is marked
// with "...". It never splits a rune. Known secrets are redacted first
// ([secret.RedactBytes]), so that neither the cut nor the collapsed white space can
// leave a piece of one that no longer matches.
func Excerpt(b []byte, limit int) string {
	b = secret.RedactBytes(b)
	var sb strings.Builder
	space := false
	for len(b) > 0 && sb.Len() <= limit {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = true
			continue
		}
		if space && sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		space = false
		sb.WriteRune(r)
	}
	s := sb.String()
	if len(s) <= limit {
		return s
	}
	const mark = "..."
	cut := max(limit-len(mark), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
