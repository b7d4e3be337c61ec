package alertatest

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
)

// authError is a refusal of the permission decorator; basic marks Alerta's
// BasicAuthError, whose answer carries WWW-Authenticate.
type authError struct {
	err    *alerta.Error
	errors []string
	basic  bool
}

// authorize runs Alerta's permission decorator (§4.1) for scope: the first method
// whose credentials are present decides. It returns nil when the request may go on.
func (c *call) authorize(scope string) *authError {
	s, r := c.s, c.r
	authz := r.Header.Get("Authorization")

	// 1. API key: Authorization "Key <key>", else X-API-Key, else ?api-key=.
	var key string
	switch {
	case strings.HasPrefix(authz, "Key "):
		key = firstRun(authz[len("Key "):])
	case len(r.Header.Values("X-API-Key")) > 0:
		key = r.Header.Get("X-API-Key")
	default:
		key = r.URL.Query().Get("api-key")
	}
	if key != "" {
		i := slices.IndexFunc(s.opts.APIKeys, func(k APIKey) bool { return equal(k.Key, key) })
		if i < 0 {
			// Alerta puts the key in this message; a wrong key is often a real key
			// of another server, so the fake does not.
			return &authError{err: &alerta.Error{Code: http.StatusUnauthorized, Message: "API key parameter '<redacted>' is invalid"}}
		}
		return s.scoped(scope, s.opts.APIKeys[i].Scopes, false)
	}

	// 2. Hawk, only when the header starts with "Hawk" (case-sensitive).
	if strings.HasPrefix(authz, "Hawk") {
		if e := c.hawk(authz); e != nil {
			return &authError{err: e}
		}
		return nil // admin scopes
	}

	// 3. Bearer: an opaque token here (Alerta verifies its own JWTs).
	if tok, ok := strings.CutPrefix(authz, "Bearer "); ok && firstRun(tok) != "" {
		tok = firstRun(tok)
		i := slices.IndexFunc(s.opts.Tokens, func(t Token) bool { return equal(t.Token, tok) })
		if i < 0 {
			return &authError{err: &alerta.Error{Code: http.StatusUnauthorized, Message: "Token is invalid"}}
		}
		return s.scoped(scope, s.opts.Tokens[i].Scopes, false)
	}

	// 5. Basic (4, the auth proxy, is not faked).
	if cred, ok := strings.CutPrefix(authz, "Basic "); ok && firstRun(cred) != "" {
		raw, err := base64.StdEncoding.DecodeString(firstRun(cred))
		if err != nil || !utf8.Valid(raw) {
			return &authError{err: &alerta.Error{Code: http.StatusBadRequest, Message: "Invalid credentials"},
				errors: []string{"Incorrect padding or invalid base64"}, basic: true}
		}
		parts := strings.Split(string(raw), ":")
		if len(parts) != 2 {
			msg := "not enough values to unpack (expected 2, got 1)"
			if len(parts) > 2 {
				msg = "too many values to unpack (expected 2)"
			}
			return &authError{err: &alerta.Error{Code: http.StatusBadRequest, Message: "Invalid credentials"},
				errors: []string{msg}, basic: true}
		}
		i := slices.IndexFunc(s.opts.Users, func(u User) bool {
			return equal(u.Username, parts[0]) && equal(u.Password, parts[1])
		})
		if i < 0 {
			return &authError{err: &alerta.Error{Code: http.StatusUnauthorized, Message: "Authorization required"}, basic: true}
		}
		return s.scoped(scope, s.opts.Users[i].Scopes, true)
	}

	// 6. No credentials: allowed unless AUTH_REQUIRED.
	if !s.opts.AuthRequired {
		return nil
	}
	return &authError{err: &alerta.Error{Code: http.StatusUnauthorized, Message: "Missing authorization API Key or Bearer Token"}}
}

// firstRun returns the first run of non-space characters of s, as Alerta's
// `Key (\S+)` and `Bearer (\S+)` take them (nothing when s starts with a space).
func firstRun(s string) string {
	if i := strings.IndexAny(s, " \t\r\n\f\v"); i >= 0 {
		return s[:i]
	}
	return s
}

// equal compares two secrets in constant time.
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// scoped answers 403 when have does not cover want.
func (s *Server) scoped(want string, have []string, basic bool) *authError {
	if s.inScope(want, have) {
		return nil
	}
	return &authError{err: &alerta.Error{Code: http.StatusForbidden, Message: "Missing required scope: " + want}, basic: basic}
}

// inScope is Alerta's Permission.is_in_scope: a scope or its type grants itself;
// read is implied by write, write by admin; delete by write, or only by admin when
// DELETE_SCOPES names it.
func (s *Server) inScope(want string, have []string) bool {
	if want == "" {
		return true
	}
	typ, _, _ := strings.Cut(want, ":")
	if slices.Contains(have, want) || slices.Contains(have, typ) {
		return true
	}
	switch {
	case strings.HasPrefix(want, "read"):
		return s.inScope(strings.ReplaceAll(want, "read", "write"), have)
	case strings.HasPrefix(want, "write"):
		return s.inScope(strings.ReplaceAll(want, "write", "admin"), have)
	case strings.HasPrefix(want, "delete"):
		if slices.Contains(s.opts.DeleteScopes, want) {
			return s.inScope(strings.ReplaceAll(want, "delete", "admin"), have)
		}
		return s.inScope(strings.ReplaceAll(want, "delete", "write"), have)
	}
	return false
}

// hawk verifies a Hawk Authorization header against the request as the client
// addressed it (the Host header, the raw request URI), and words a failure as
// mohawk does — without the expected MAC Alerta's message carries.
func (c *call) hawk(header string) *alerta.Error {
	r := c.r
	host, port := r.Host, 80
	if c.s.opts.ProxyFix {
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
			host = fh
		}
		if r.Header.Get("X-Forwarded-Proto") == "https" {
			port = 443
		}
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		host = h
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	req := hawk.Request{Method: r.Method, Host: host, Port: port, Resource: r.RequestURI,
		ContentType: r.Header.Get("Content-Type"), Body: c.body}
	_, err := c.s.verifier.Verify(req, header)
	if err == nil {
		return nil
	}
	attrs, _ := hawk.ParseHeader(header)
	msg := strings.TrimPrefix(err.Error(), "hawk: ")
	switch {
	case errors.Is(err, hawk.ErrUnknownID):
		msg = "Could not find credentials for ID " + attrs["id"]
	case errors.Is(err, hawk.ErrMAC):
		msg = "MACs do not match"
	case errors.Is(err, hawk.ErrHash):
		alg := "sha256"
		for _, cr := range c.s.opts.Hawk {
			if cr.ID == attrs["id"] && cr.Algorithm != "" {
				alg = cr.Algorithm
			}
		}
		ours, _ := hawk.PayloadHash(alg, req.ContentType, req.Body)
		msg = fmt.Sprintf("Our hash b'%s' (%s) did not match theirs %s", ours, alg, attrs["hash"])
	case errors.Is(err, hawk.ErrExpired):
		msg = fmt.Sprintf("token with UTC timestamp %s has expired; it was compared to %d", attrs["ts"], c.s.now().Unix())
	case errors.Is(err, hawk.ErrReplay):
		msg = fmt.Sprintf("Nonce %s with timestamp %s has already been processed for %s", attrs["nonce"], attrs["ts"], attrs["id"])
	case msg != "":
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return &alerta.Error{Code: http.StatusUnauthorized, Message: msg}
}
