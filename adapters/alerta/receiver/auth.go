package receiver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Answers of authentication, as Alerta words them where it can be done without
// repeating what the client sent: Alerta's "API key parameter '<key>' is invalid"
// and "MACs do not match; ours: …" put a credential (or the MAC the server wants)
// in the answer, and these never do.
const (
	msgMissing     = "Missing authorization API Key or Bearer Token"
	msgAPIKey      = "API key parameter is invalid"
	msgToken       = "Token is invalid"
	msgBasic       = "Authorization required"
	msgBasicSyntax = "Invalid credentials"
	msgLoopback    = "Authentication is required: this receiver has no credentials configured and serves only loopback clients"
)

// Reasons of a refused request (Deps.Reject, edgerelay_source_rejects_total).
const (
	RejectUnauthorized     = "unauthorized"       // 401: no or wrong credentials
	RejectForbidden        = "forbidden"          // 403: not loopback without credentials, or an environment refused
	RejectTooLarge         = "too_large"          // 413: the body is over max_body_bytes, or a heartbeat over its part of max_state_bytes
	RejectBadRequest       = "bad_request"        // 400: the body could not be read
	RejectInvalid          = "invalid"            // 400/500: not a valid alert, action or heartbeat
	RejectMethodNotAllowed = "method_not_allowed" // 405
	RejectNotFound         = "not_found"          // 404: no such path
)

// authError is a refused authentication: the status, the message of the answer
// and, for Basic, the challenge.
type authError struct {
	status    int
	message   string
	challenge bool
	reason    string
}

// authenticator checks a request's credentials in Alerta's order (§4.1).
type authenticator struct {
	// keys, tokens and basic hold the SHA-256 of each secret, so that comparing
	// in constant time does not depend on the secrets' lengths.
	keys   [][32]byte
	tokens [][32]byte
	basic  map[string][32]byte // user name → SHA-256 of the password
	hawk   *hawk.Verifier
	// base is base_url's host and port, the Hawk signature's; nil with
	// hawk_host_from_request.
	host string
	port int
	// fromRequest takes the Hawk host and port from the request.
	fromRequest bool
	// open is true when no credential is configured: only loopback clients.
	open bool
}

// newAuthenticator resolves every configured secret (files, variables) and
// registers it for redaction. Its errors name the key, never a secret.
func newAuthenticator(a AuthConfig, base *url.URL, fromRequest bool, now func() time.Time) (*authenticator, error) {
	au := &authenticator{basic: map[string][32]byte{}, fromRequest: fromRequest, open: a.empty()}
	au.host = strings.ToLower(base.Hostname())
	au.port, _ = portOf(base)
	var errs []error
	for _, k := range a.APIKeys {
		au.keys = append(au.keys, sha256.Sum256([]byte(k.Reveal())))
	}
	for i, f := range a.APIKeyFiles {
		s, err := httpc.ResolveSecret("", f, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.api_key_files[%d]: %w", i, err))
			continue
		}
		if !printable(s.Reveal()) {
			errs = append(errs, fmt.Errorf("auth.api_key_files[%d]: the key in %s must be printable ASCII without spaces", i, f))
			continue
		}
		au.keys = append(au.keys, sha256.Sum256([]byte(s.Reveal())))
	}
	for _, t := range a.Bearer {
		au.tokens = append(au.tokens, sha256.Sum256([]byte(t.Reveal())))
	}
	for i, b := range a.Basic {
		s, err := httpc.ResolveSecret(b.Password.Reveal(), b.PasswordFile, b.PasswordEnv)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.basic[%d] (%s): %w", i, b.Username, err))
			continue
		}
		secret.RegisterUserPassword(b.Username, s.Reveal())
		au.basic[b.Username] = sha256.Sum256([]byte(s.Reveal()))
	}
	creds := map[string]hawk.Credentials{}
	for i, h := range a.Hawk {
		s, err := httpc.ResolveSecret(h.Key.Reveal(), h.KeyFile, h.KeyEnv)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.hawk[%d] (%s): %w", i, h.ID, err))
			continue
		}
		creds[h.ID] = hawk.Credentials{ID: h.ID, Key: s.Reveal(), Algorithm: h.Algorithm}
	}
	if len(a.Hawk) > 0 {
		au.hawk = &hawk.Verifier{
			Lookup: func(id string) (hawk.Credentials, bool) { c, ok := creds[id]; return c, ok },
			Now:    now,
		}
	}
	return au, errors.Join(errs...)
}

// wantsBody reports whether checking r's credentials needs its body: a Hawk
// signature hashes it. Every other method is checked before the body is read.
func (au *authenticator) wantsBody(r *http.Request) bool {
	return !au.open && au.apiKey(r) == "" && strings.HasPrefix(r.Header.Get("Authorization"), "Hawk")
}

// apiKey returns the API key r carries, from the first of "Authorization: Key",
// X-API-Key and ?api-key= that is present (§4.1); "" when none is.
func (au *authenticator) apiKey(r *http.Request) string {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Key "); ok {
		k, _, _ := strings.Cut(strings.TrimLeft(v, " "), " ")
		if k != "" {
			return k
		}
	}
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	return r.URL.Query().Get("api-key")
}

// check authenticates r, whose body is body (nil when wantsBody is false). It
// returns nil when r may proceed.
func (au *authenticator) check(r *http.Request, body []byte) *authError {
	if au.open {
		if loopback(r.RemoteAddr) {
			return nil
		}
		return &authError{status: http.StatusForbidden, message: msgLoopback, reason: RejectForbidden}
	}
	if k := au.apiKey(r); k != "" {
		if matchAny(au.keys, k) {
			return nil
		}
		return &authError{status: http.StatusUnauthorized, message: msgAPIKey, reason: RejectUnauthorized}
	}
	authz := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(authz, "Hawk"):
		return au.checkHawk(r, authz, body)
	case strings.HasPrefix(authz, "Bearer "):
		if matchAny(au.tokens, strings.TrimSpace(authz[len("Bearer "):])) {
			return nil
		}
		return &authError{status: http.StatusUnauthorized, message: msgToken, reason: RejectUnauthorized}
	case strings.HasPrefix(authz, "Basic "):
		return au.checkBasic(authz[len("Basic "):])
	}
	return &authError{status: http.StatusUnauthorized, message: msgMissing, reason: RejectUnauthorized}
}

// checkHawk verifies a Hawk signature against the public URL (base_url's host and
// port, or the request's with hawk_host_from_request) and r's path and query as
// they came on the wire.
func (au *authenticator) checkHawk(r *http.Request, authz string, body []byte) *authError {
	fail := func(msg string) *authError {
		return &authError{status: http.StatusUnauthorized, message: msg, reason: RejectUnauthorized}
	}
	if au.hawk == nil {
		return fail("Hawk authentication is not configured on this receiver")
	}
	host, port := au.host, au.port
	if au.fromRequest {
		host, port = requestHostPort(r)
	}
	req := hawk.Request{
		Method:      r.Method,
		Host:        host,
		Port:        port,
		Resource:    resource(r),
		ContentType: r.Header.Get("Content-Type"),
		Body:        body,
	}
	_, err := au.hawk.Verify(req, authz)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hawk.ErrUnknownID):
		return fail("Could not find credentials for the Hawk ID")
	case errors.Is(err, hawk.ErrMAC):
		return fail("MACs do not match")
	case errors.Is(err, hawk.ErrHash):
		return fail("Our payload hash did not match theirs")
	case errors.Is(err, hawk.ErrExpired):
		return fail("token with UTC timestamp has expired")
	case errors.Is(err, hawk.ErrReplay):
		return fail("Hawk nonce already used")
	}
	// A parse error: its text names only attribute names, never values.
	return fail("Invalid Hawk header")
}

// checkBasic checks "user:password" in base64 against the configured users. A
// password may contain ':' (RFC 7617); Alerta refuses one with 400.
func (au *authenticator) checkBasic(b64 string) *authError {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return &authError{status: http.StatusBadRequest, message: msgBasicSyntax, reason: RejectUnauthorized}
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return &authError{status: http.StatusBadRequest, message: msgBasicSyntax, reason: RejectUnauthorized}
	}
	want, known := au.basic[user]
	got := sha256.Sum256([]byte(pass))
	// Compare even for an unknown user, so that the time taken does not tell
	// which user names exist.
	if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && known {
		return nil
	}
	return &authError{status: http.StatusUnauthorized, message: msgBasic, challenge: true, reason: RejectUnauthorized}
}

// matchAny reports whether s is one of the secrets whose digests are in set,
// comparing every one in constant time.
func matchAny(set [][32]byte, s string) bool {
	d := sha256.Sum256([]byte(s))
	ok := 0
	for i := range set {
		ok |= subtle.ConstantTimeCompare(d[:], set[i][:])
	}
	return ok == 1
}

// loopback reports whether the remote address is a loopback address.
func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// resource is the path and query r was sent to, as on the wire: what a Hawk
// client signs.
func resource(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// requestHostPort returns the host and port of r's Host header; the port is 443
// or 80 by the connection when the header names none.
func requestHostPort(r *http.Request) (string, int) {
	def := 80
	if r.TLS != nil {
		def = 443
	}
	h := r.Host
	host, p, err := net.SplitHostPort(h)
	if err != nil {
		return strings.ToLower(strings.Trim(h, "[]")), def
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return strings.ToLower(host), def
	}
	return strings.ToLower(host), n
}

// portOf returns u's port, or 80/443 by scheme when it names none.
func portOf(u *url.URL) (int, error) {
	p := u.Port()
	if p == "" {
		if u.Scheme == "https" {
			return 443, nil
		}
		return 80, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return n, nil
}
