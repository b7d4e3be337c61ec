// Package hawk signs and verifies HTTP requests with Hawk v1 as Alerta speaks it
// (the `HMAC_AUTH_CREDENTIALS` method; its server uses mohawk): a payload hash over
// the Content-Type's media type and the raw body, a MAC over a nine-line normalized
// string, the secret used as its ASCII bytes, ±300 s of clock skew. See the
// federation spec, §4.2; its known-answer vectors are this package's tests.
//
// Beyond Alerta, the Verifier keeps a bounded replay cache of (id, ts, nonce), so a
// captured request cannot be sent again inside the skew window (AllowReplay turns
// it off, for a fake of Alerta); it takes ts only in canonical form; and its errors
// never carry the MAC it expected (Alerta's "MACs do not match; ours: …" hands an
// attacker the answer). It is a leaf package: standard library only.
package hawk

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Credentials are one Hawk identity: the id sent in the header, the shared secret
// (used as its bytes, never base64-decoded) and the hash algorithm.
type Credentials struct {
	ID  string
	Key string
	// Algorithm is "sha256" (the default when empty), "sha384" or "sha512".
	Algorithm string
}

// Request is what a MAC covers.
type Request struct {
	Method string
	// Host is the host name as the client addressed it (lowercased when signing).
	Host string
	// Port is the port as the client addressed it: 80 or 443 by scheme when the URL
	// names none.
	Port int
	// Resource is the path and, when there is one, "?" and the raw query.
	Resource string
	// ContentType is the request's Content-Type header ("" when it has none).
	ContentType string
	// Body is the raw body, exactly as on the wire.
	Body []byte
}

// RequestFor is the Request a client signs for method to u with body: u's host
// name, its port (80 or 443 by scheme when u names none), and its path and query
// as they go on the wire. It fails on a port out of range.
func RequestFor(method string, u *url.URL, contentType string, body []byte) (Request, error) {
	port := 80
	switch p := u.Port(); {
	case p != "":
		n, err := strconv.Atoi(p)
		if err != nil {
			return Request{}, fmt.Errorf("hawk: port %q: %w", p, err)
		}
		port = n
	case u.Scheme == "https":
		port = 443
	}
	return Request{Method: method, Host: u.Hostname(), Port: port, Resource: u.RequestURI(),
		ContentType: contentType, Body: body}, nil
}

// DefaultSkew is how far a request's ts may be from the verifier's clock.
const DefaultSkew = 300 * time.Second

// MaxHeader bounds the Authorization header a verifier parses.
const MaxHeader = 4096

func hasher(alg string) (func() hash.Hash, error) {
	switch alg {
	case "", "sha256":
		return sha256.New, nil
	case "sha384":
		return sha512.New384, nil
	case "sha512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("hawk: algorithm %q is not sha256, sha384 or sha512", alg)
}

// MediaType is the part of a Content-Type the payload hash covers: before the first
// ";", trimmed and lowercased ("application/json; charset=UTF-8" → "application/json").
func MediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// PayloadHash returns base64(H("hawk.1.payload\n" + media type + "\n" + body + "\n")).
func PayloadHash(alg, contentType string, body []byte) (string, error) {
	h, err := hasher(alg)
	if err != nil {
		return "", err
	}
	d := h()
	d.Write([]byte("hawk.1.payload\n" + MediaType(contentType) + "\n"))
	d.Write(body)
	d.Write([]byte("\n"))
	return base64.StdEncoding.EncodeToString(d.Sum(nil)), nil
}

// Normalized returns the string a request MAC covers: nine lines, each ending in a
// newline, the last (ext) included.
func Normalized(ts int64, nonce string, r Request, payloadHash, ext string) string {
	var b strings.Builder
	b.WriteString("hawk.1.header\n")
	b.WriteString(strconv.FormatInt(ts, 10) + "\n")
	b.WriteString(nonce + "\n")
	b.WriteString(strings.ToUpper(r.Method) + "\n")
	b.WriteString(r.Resource + "\n")
	b.WriteString(strings.ToLower(r.Host) + "\n")
	b.WriteString(strconv.Itoa(r.Port) + "\n")
	b.WriteString(payloadHash + "\n")
	b.WriteString(ext + "\n")
	return b.String()
}

// MAC returns base64(HMAC-H(key, normalized)).
func MAC(c Credentials, normalized string) (string, error) {
	h, err := hasher(c.Algorithm)
	if err != nil {
		return "", err
	}
	m := hmac.New(h, []byte(c.Key))
	m.Write([]byte(normalized))
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Nonce returns 6 characters of URL-safe base64 from random bytes, as Alerta's.
func Nonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])[:6]
}

// Header signs r at ts with nonce and returns the Authorization header value in
// Alerta's attribute order: mac, hash, id, ts, nonce. The hash is always included —
// also over an empty body (a Hawk-signed DELETE that Alerta accepts carries one).
func Header(c Credentials, r Request, ts int64, nonce string) (string, error) {
	ph, err := PayloadHash(c.Algorithm, r.ContentType, r.Body)
	if err != nil {
		return "", err
	}
	mac, err := MAC(c, Normalized(ts, nonce, r, ph, ""))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`Hawk mac="%s", hash="%s", id="%s", ts="%d", nonce="%s"`, mac, ph, c.ID, ts, nonce), nil
}

// allowed are the attribute names a Hawk header may carry.
var allowed = map[string]bool{"id": true, "ts": true, "tsm": true, "nonce": true, "hash": true,
	"error": true, "ext": true, "mac": true, "app": true, "dlg": true}

// ParseHeader parses an Authorization header value "Hawk name="value", …" by the
// rules mohawk applies: the scheme word (any case), then only name="value" pairs
// separated by commas and optional spaces; names among id, ts, tsm, nonce, hash,
// error, ext, mac, app, dlg, each at most once; values of letters, digits, space and
// !#$%&'()*+,-./:;<=>?@[]^_`{|}~ (no quote, no backslash); at most MaxHeader bytes.
func ParseHeader(h string) (map[string]string, error) {
	if len(h) > MaxHeader {
		return nil, errors.New("hawk: header too long")
	}
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Hawk") {
		return nil, errors.New("hawk: not a Hawk header")
	}
	attrs := map[string]string{}
	s := strings.TrimLeft(rest, " ")
	for s != "" {
		i := 0
		for i < len(s) && isWord(s[i]) {
			i++
		}
		name := s[:i]
		if name == "" || !strings.HasPrefix(s[i:], `="`) {
			return nil, errors.New("hawk: bad header syntax")
		}
		s = s[i+2:]
		end := strings.IndexByte(s, '"')
		if end < 0 {
			return nil, errors.New("hawk: bad header syntax")
		}
		value := s[:end]
		if !ValidValue(value) {
			return nil, fmt.Errorf("hawk: bad character in the value of %s", name)
		}
		if !allowed[name] {
			return nil, fmt.Errorf("hawk: unknown Hawk key '%s' when parsing header", name)
		}
		if _, dup := attrs[name]; dup {
			return nil, fmt.Errorf("hawk: duplicate key '%s' in header", name)
		}
		attrs[name] = value
		s = strings.TrimLeft(s[end+1:], " ")
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, errors.New("hawk: bad header syntax")
		}
		s = strings.TrimLeft(s[1:], " ")
		if s == "" {
			return nil, errors.New("hawk: bad header syntax")
		}
	}
	return attrs, nil
}

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// ValidValue reports whether s may be a Hawk header attribute value (an id, a
// nonce): only letters, digits, space and !#$%&'()*+,-./:;<=>?@[]^_`{|}~.
func ValidValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if !valueChar(s[i]) {
			return false
		}
	}
	return true
}

func valueChar(c byte) bool {
	if isWord(c) || c == ' ' {
		return true
	}
	return strings.IndexByte("!#$%&'()*+,-./:;<=>?@[]^`{|}~", c) >= 0
}

// Verifier checks Hawk-signed requests. Its methods may be called concurrently.
type Verifier struct {
	// Lookup returns the credentials of id.
	Lookup func(id string) (Credentials, bool)
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Skew is how far ts may be from Now, both ways; zero means DefaultSkew.
	Skew time.Duration
	// MaxNonces bounds the replay cache; zero means 65536. When it is full, the
	// oldest entry is forgotten (it expires with the skew window anyway).
	MaxNonces int
	// AllowReplay turns the replay cache off, as Alerta has none (§4.2 step 4): the
	// same header is accepted again inside the skew window. Only a fake of Alerta
	// wants that; a receiver keeps the cache.
	AllowReplay bool

	mu sync.Mutex
	// seen maps the SHA-256 of id, ts and nonce to the ts, for expiry. The digest
	// keeps every entry 32 bytes: a nonce may be almost MaxHeader long, and a full
	// cache of such keys would hold hundreds of MB.
	seen   map[[32]byte]int64
	order  [][32]byte // insertion order, for eviction
	head   int
	nonces int
}

// Errors of Verify. None carries a MAC or a secret.
var (
	ErrUnknownID = errors.New("hawk: unknown credentials id")
	ErrMAC       = errors.New("hawk: MACs do not match")
	ErrHash      = errors.New("hawk: payload hash does not match")
	ErrExpired   = errors.New("hawk: timestamp outside the allowed skew")
	ErrReplay    = errors.New("hawk: nonce already used")
)

// Verify checks header against r, in Alerta's order: the id is known, the MAC
// matches, the payload hash matches (a request without a hash attribute passes only
// with an empty body and no Content-Type), ts is within the skew; then, beyond
// Alerta, that (id, ts, nonce) was not seen before. It returns the id.
func (v *Verifier) Verify(r Request, header string) (string, error) {
	a, err := ParseHeader(header)
	if err != nil {
		return "", err
	}
	for _, k := range []string{"id", "ts", "nonce", "mac"} {
		if a[k] == "" {
			return "", fmt.Errorf("hawk: missing %s", k)
		}
	}
	c, ok := v.Lookup(a["id"])
	if !ok {
		return "", ErrUnknownID
	}
	ts, err := parseTS(a["ts"])
	if err != nil {
		return "", err
	}
	want, err := MAC(c, Normalized(ts, a["nonce"], r, a["hash"], a["ext"]))
	if err != nil {
		return "", err
	}
	if !hmac.Equal([]byte(want), []byte(a["mac"])) {
		return "", ErrMAC
	}
	if h, ok := a["hash"]; ok {
		ph, err := PayloadHash(c.Algorithm, r.ContentType, r.Body)
		if err != nil {
			return "", err
		}
		if !hmac.Equal([]byte(ph), []byte(h)) {
			return "", ErrHash
		}
	} else if len(r.Body) > 0 || r.ContentType != "" {
		return "", ErrHash
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	n := now().Unix()
	// The distance is taken in uint64, exact for any two int64s: ts - n can
	// overflow, and a wrapped difference once let a ts near -2⁶³ pass.
	var dist uint64
	if ts >= n {
		dist = uint64(ts) - uint64(n)
	} else {
		dist = uint64(n) - uint64(ts)
	}
	if dist > uint64(skew/time.Second) {
		return "", ErrExpired
	}
	if v.AllowReplay {
		return a["id"], nil
	}
	if !v.remember(sha256.Sum256([]byte(a["id"]+"\x00"+a["ts"]+"\x00"+a["nonce"])), ts, n, int64(skew/time.Second)) {
		return "", ErrReplay
	}
	return a["id"], nil
}

// parseTS parses a header's ts: decimal digits in canonical form (no sign, no
// leading zero). The MAC covers the number as formatted again, so a looser parse
// would let "01700000000" or "+1700000000" carry a captured MAC past the replay
// cache, whose key is the string.
func parseTS(s string) (int64, error) {
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ts < 0 || strconv.FormatInt(ts, 10) != s {
		return 0, errors.New("hawk: ts is not a canonical non-negative integer")
	}
	return ts, nil
}

// remember records key and reports whether it is new. Entries older than the skew
// window are dropped from the front as new ones arrive.
func (v *Verifier) remember(key [32]byte, ts, now, window int64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	max := v.MaxNonces
	if max <= 0 {
		max = 65536
	}
	if v.seen == nil {
		v.seen = map[[32]byte]int64{}
		v.order = make([][32]byte, max)
	}
	if _, dup := v.seen[key]; dup {
		return false
	}
	// Expire from the oldest: a replay older than the window fails the skew check.
	for v.nonces > 0 {
		old := v.order[v.head]
		if t, ok := v.seen[old]; ok && t >= now-window && v.nonces < max {
			break
		}
		delete(v.seen, old)
		v.order[v.head] = [32]byte{}
		v.head = (v.head + 1) % max
		v.nonces--
	}
	v.order[(v.head+v.nonces)%max] = key
	v.seen[key] = ts
	v.nonces++
	return true
}
