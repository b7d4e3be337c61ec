package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Redacted is what every redacted secret, or piece of one, shows instead.
const Redacted = "***"

// MinLen is the length in bytes of the shortest value Register accepts: a shorter
// one would eat ordinary text wherever it occurs ("on", "1234").
const MinLen = 4

// MinCut is the length in bytes from which a cut piece of a secret (a prefix at an
// excerpt's end, a suffix at its start) is redacted; pieces of a secret shorter than
// 2*MinCut are redacted from half its length (and at least MinLen) instead.
const MinCut = 8

// MaxValues bounds how many values a Set holds. A password file rewritten every
// minute would otherwise grow the set for ever. The first MaxPinned values (the
// configuration's, registered as it loads) are kept for ever; past MaxValues the
// least recently registered of the others go, and registering a value again makes
// it the most recent, so the password in use is never the one dropped.
const MaxValues = 256

// MaxPinned is how many of the first values registered a Set never drops.
const MaxPinned = 128

// ellipses are the marks an excerpt ends with where it was cut. A piece of a
// secret right before one (or at the end of the text) may be a cut prefix; right
// after one (or at the start), a cut suffix.
var ellipses = []string{"…", "..."}

// Set is a set of known secret values and what redacts them. The zero value is an
// empty set ready for use; it is safe for concurrent use. Redact costs one atomic
// load while the set is empty.
type Set struct {
	mu     sync.Mutex
	values []string // in registration order, for MaxValues
	state  atomic.Pointer[compiled]
}

// compiled is the immutable matcher of a Set's values.
type compiled struct {
	rep *strings.Replacer
	// byFirst and byLast index the forms the cut rule applies to (longer than
	// their minCut) by their first and last byte; lo and hi are the shortest and
	// longest cut piece of any of them.
	byFirst, byLast [256][]cutForm
	lo, hi          int
}

// cutForm is a form and the length of its shortest cut piece that is redacted.
type cutForm struct {
	f  string
	lo int
}

// Default is the process-wide set that the package functions use. Configuration
// values register themselves in it when they are resolved.
var Default = &Set{}

// Register adds values to the Default set (see [Set.Add]).
func Register(values ...string) { Default.Add(values...) }

// RegisterUserPassword adds a user name and password pair to the Default set (see
// [Set.AddUserPassword]).
func RegisterUserPassword(user, password string) { Default.AddUserPassword(user, password) }

// RegisterURL adds the userinfo of a URL to the Default set (see [Set.AddURL]).
func RegisterURL(raw string) { Default.AddURL(raw) }

// Redact returns s with every form of every secret of the Default set redacted.
func Redact(s string) string { return Default.Redact(s) }

// RedactBytes is [Redact] for a byte slice. It returns b itself when nothing changed.
func RedactBytes(b []byte) []byte { return Default.RedactBytes(b) }

// Add registers values. Empty values and values shorter than MinLen are ignored
// (see MinLen). Surrounding white space is trimmed as well, as a value read from a
// file or the environment is, and both forms are kept.
func (s *Set) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, v := range values {
		for _, v := range append([]string{v, strings.TrimSpace(v)}, parts(v)...) {
			if len(v) < MinLen {
				continue
			}
			if i := slices.Index(s.values, v); i >= 0 {
				if i >= MaxPinned && i < len(s.values)-1 { // most recent again
					s.values = append(slices.Delete(s.values, i, i+1), v)
				}
				continue
			}
			s.values = append(s.values, v)
			changed = true
		}
	}
	if !changed {
		return
	}
	if n := len(s.values) - MaxValues; n > 0 {
		s.values = slices.Delete(s.values, MaxPinned, MaxPinned+n)
	}
	s.compileLocked()
}

// parts returns the pieces of a header-like value that are secrets on their own:
// the credentials after an auth scheme ("Bearer <token>", when at least MinCut
// bytes), and the password and "user:password" that "Basic <base64>" carries.
func parts(v string) []string {
	f := strings.Fields(v)
	if len(f) != 2 || len(f[1]) < MinCut {
		return nil
	}
	out := []string{f[1]}
	if strings.EqualFold(f[0], "Basic") {
		if b, err := base64.StdEncoding.DecodeString(f[1]); err == nil {
			out = append(out, string(b))
			if _, p, ok := strings.Cut(string(b), ":"); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// AddUserPassword registers a password and the "user:password" pair that Basic
// auth and URL userinfo carry (and so their base64). An empty password registers
// nothing.
func (s *Set) AddUserPassword(user, password string) {
	if password == "" {
		return
	}
	s.Add(password, user+":"+password)
}

// AddURL registers the userinfo of raw: its password with the user name, or the
// user name alone when there is no password (a token given as the user name). A raw
// URL that does not parse is searched for a userinfo by hand, so that its secret is
// known even though the URL is refused.
func (s *Set) AddURL(raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err == nil {
		if u.User == nil {
			return
		}
		if p, ok := u.User.Password(); ok {
			s.AddUserPassword(u.User.Username(), p)
			return
		}
		s.Add(u.User.Username())
		return
	}
	info, ok := rawUserinfo(raw)
	if !ok {
		return
	}
	s.Add(info)
	if user, pass, ok := strings.Cut(info, ":"); ok {
		s.AddUserPassword(user, pass)
		if p, err := url.PathUnescape(pass); err == nil {
			s.AddUserPassword(user, p)
		}
	}
}

// rawUserinfo finds "userinfo@" after "scheme://" in a URL that url.Parse refused.
func rawUserinfo(raw string) (string, bool) {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		rest = raw
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	i := strings.LastIndex(rest, "@")
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// Len reports how many values are registered.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values)
}

// Reset forgets every value (for tests).
func (s *Set) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = nil
	s.state.Store(nil)
}

func (s *Set) compileLocked() {
	seen := map[string]struct{}{}
	var forms []string
	for _, v := range s.values {
		for _, f := range Forms(v) {
			if _, dup := seen[f]; !dup {
				seen[f] = struct{}{}
				forms = append(forms, f)
			}
		}
	}
	// Longest first: strings.Replacer tries its patterns in argument order, so a
	// longer form wins over one it contains.
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Redacted)
	}
	c := &compiled{rep: strings.NewReplacer(pairs...), lo: len(forms[0])}
	for _, f := range forms {
		if lo := minCut(f); len(f) > lo {
			c.byFirst[f[0]] = append(c.byFirst[f[0]], cutForm{f, lo})
			c.byLast[f[len(f)-1]] = append(c.byLast[f[len(f)-1]], cutForm{f, lo})
			c.lo, c.hi = min(c.lo, lo), max(c.hi, len(f)-1)
		}
	}
	s.state.Store(c)
}

// Forms returns every form a value v takes on the wire that Redact replaces: v
// itself; v quoted as Go (%q, also ASCII-only) and JSON (with and without HTML
// escaping) quote it, without the quotes; v query-escaped, path-escaped and
// escaped as a URL's user name and password; and v in base64 (standard and URL
// alphabets, padded or not) — all of it when v starts a base64 text, and, for v at
// any other offset (a token after an unknown "user:" in Basic auth), the base64
// groups that encode v's bytes only, when at least MinCut characters long.
func Forms(v string) []string {
	if v == "" {
		return nil
	}
	out := []string{v}
	add := func(f string) {
		if len(f) >= MinLen && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	unquote := func(q string) string { return q[1 : len(q)-1] }
	add(unquote(strconv.Quote(v)))
	add(unquote(strconv.QuoteToASCII(v)))
	if j, err := json.Marshal(v); err == nil {
		add(unquote(string(j)))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		add(unquote(strings.TrimSpace(buf.String())))
	}
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	add(strings.TrimPrefix(url.UserPassword("u", v).String(), "u:"))
	add(url.User(v).String())
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(e.EncodeToString([]byte(v)))
		add(e.WithPadding(base64.NoPadding).EncodeToString([]byte(v)))
		for k := 0; k < 3; k++ {
			if inner := alignedBase64(e, v, k); len(inner) >= MinCut {
				add(inner)
			}
		}
	}
	return out
}

// alignedBase64 returns the base64 characters that encode only bytes of v when v
// follows k (0, 1 or 2, mod 3) unknown bytes: the whole groups inside v.
func alignedBase64(e *base64.Encoding, v string, k int) string {
	b := e.EncodeToString(append(make([]byte, k), v...))
	start := 0
	if k > 0 {
		start = 4
	}
	end := 4 * ((k + len(v)) / 3)
	if end <= start {
		return ""
	}
	return b[start:end]
}

// Redact returns s with every form (see [Forms]) of every value in the set replaced
// by Redacted, and then every cut piece of one: a prefix of a form at the end of s
// or right before an ellipsis ("…", "..."), and a suffix of a form at the start of
// s or right after an ellipsis, at least MinCut bytes long (half the form, at least
// MinLen, for forms shorter than 2*MinCut).
func (s *Set) Redact(text string) string {
	c := s.state.Load()
	if c == nil || text == "" {
		return text
	}
	return c.cuts(c.rep.Replace(text))
}

// RedactBytes is Redact for a byte slice; it returns b itself when nothing changed.
func (s *Set) RedactBytes(b []byte) []byte {
	if s.state.Load() == nil || len(b) == 0 {
		return b
	}
	r := s.Redact(string(b))
	if r == string(b) {
		return b
	}
	return []byte(r)
}

// minCut is the shortest cut piece of f that is redacted.
func minCut(f string) int { return min(MinCut, max(MinLen, (len(f)+1)/2)) }

// cuts redacts cut pieces of forms at text's edges and around its ellipses.
func (c *compiled) cuts(text string) string {
	type span struct{ i, j int }
	var spans []span
	// ends and starts are where a cut prefix may end and a cut suffix may start.
	ends, starts := []int{len(text)}, []int{0}
	for _, m := range ellipses {
		for off := 0; ; {
			i := strings.Index(text[off:], m)
			if i < 0 {
				break
			}
			ends = append(ends, off+i)
			starts = append(starts, off+i+len(m))
			off += i + len(m)
		}
	}
	for _, e := range ends {
		// The longest cut prefix ending at e: the earliest start i where one is.
	prefix:
		for i := max(0, e-c.hi); i <= e-c.lo; i++ {
			for _, cf := range c.byFirst[text[i]] {
				if k, f := e-i, cf.f; k < len(f) && k >= cf.lo && f[1] == text[i+1] && f[:k] == text[i:e] {
					spans = append(spans, span{i, e})
					break prefix
				}
			}
		}
	}
	for _, b := range starts {
		// The longest cut suffix starting at b: the latest end j where one is.
	suffix:
		for j := min(len(text), b+c.hi) - 1; j >= b+c.lo-1; j-- {
			for _, cf := range c.byLast[text[j]] {
				if k, f := j+1-b, cf.f; k < len(f) && k >= cf.lo && f[len(f)-k] == text[b] && f[len(f)-k:] == text[b:j+1] {
					spans = append(spans, span{b, j + 1})
					break suffix
				}
			}
		}
	}
	if len(spans) == 0 {
		return text
	}
	slices.SortFunc(spans, func(a, b span) int { return a.i - b.i })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		if top := &merged[len(merged)-1]; sp.i <= top.j {
			top.j = max(top.j, sp.j)
			continue
		}
		merged = append(merged, sp)
	}
	var sb strings.Builder
	last := 0
	for _, sp := range merged {
		sb.WriteString(text[last:sp.i])
		sb.WriteString(Redacted)
		last = sp.j
	}
	sb.WriteString(text[last:])
	return sb.String()
}

// Scrub returns err with its message redacted by the Default set and, in addition,
// every one of extra (values the caller knows, registered or not). errors.Is and
// errors.As still see the original chain; only the text changes. Scrub(nil) is nil.
func Scrub(err error, extra ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, v := range extra {
		if v != "" {
			clean = strings.ReplaceAll(clean, v, Redacted)
		}
	}
	clean = Redact(clean)
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
