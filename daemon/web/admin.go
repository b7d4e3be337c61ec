package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// The bad-token budget: AdminBurst wrong tokens at once, then one more every
// AdminRefill. It is one budget for every client (the server cannot tell an attacker
// on many addresses from one), and while it is spent every admin request is answered
// 429 without its token being looked at, so guessing gets no faster by trying harder;
// the operator waits at most AdminRefill after an attack stops.
const (
	AdminBurst  = 5
	AdminRefill = 12 * time.Second
	// maxAdminBody bounds an action's JSON body.
	maxAdminBody = 64 << 10
	// maxSeqs bounds the sequence numbers one action names.
	maxSeqs = 10000
)

// The reasons an admin request is refused, the reason label of
// edgerelay_http_admin_refused_total.
const (
	RefusedReadOnly    = "read_only"    // no admin token configured
	RefusedCrossOrigin = "cross_origin" // Origin or Sec-Fetch-Site from another site
	RefusedTokenInURL  = "token_in_url" // parameters in the URL
	RefusedNoToken     = "no_token"     // no Authorization: Bearer
	RefusedBadToken    = "bad_token"    // the wrong token
	RefusedRateLimited = "rate_limited" // the bad-token budget is spent
	RefusedBadRequest  = "bad_request"  // not JSON, or not a valid action
)

// AdminRefusedReasons lists every reason, exported from 0 so a rate works from the
// first refusal.
var AdminRefusedReasons = []string{RefusedReadOnly, RefusedCrossOrigin, RefusedTokenInURL, RefusedNoToken,
	RefusedBadToken, RefusedRateLimited, RefusedBadRequest}

// adminAuth checks the admin token of the status page's actions.
type adminAuth struct {
	sum [sha256.Size]byte // of the token; the token itself is not kept
	on  bool
	now func() time.Time

	mu     sync.Mutex // guards tokens and at
	tokens float64    // what is left of the bad-token budget
	at     time.Time  // when tokens was last brought up to date
}

func newAdminAuth(token secret.Value, now func() time.Time) *adminAuth {
	a := &adminAuth{now: now, tokens: AdminBurst}
	if token != "" {
		a.on = true
		a.sum = sha256.Sum256([]byte(token.Reveal()))
	}
	return a
}

func (a *adminAuth) enabled() bool { return a != nil && a.on }

// refill brings the budget up to date; a.mu must be held.
func (a *adminAuth) refillLocked() {
	now := a.now()
	if !a.at.IsZero() {
		a.tokens = min(AdminBurst, a.tokens+now.Sub(a.at).Seconds()/AdminRefill.Seconds())
	}
	a.at = now
}

// The outcomes of adminAuth.attempt.
type tokenVerdict uint8

const (
	tokenOK      tokenVerdict = iota
	tokenLimited              // the budget is spent: the token was not looked at
	tokenMissing              // no bearer token
	tokenWrong                // the wrong one: the budget is spent by one
)

// attempt applies the bad-token budget and checks token in one critical section, so
// that wrong guesses sent at once cannot all pass the budget's check before the first
// of them spends it. While the budget is spent it answers tokenLimited, and for how
// long it stays so, without looking at token; else it compares token with the
// configured one in constant time (hashes of equal length, so that neither the
// content nor the length leaks) and spends the budget on a mismatch. present is false
// when the request has no bearer token.
func (a *adminAuth) attempt(token string, present bool) (tokenVerdict, time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refillLocked()
	if a.tokens < 1 {
		return tokenLimited, time.Duration((1 - a.tokens) * float64(AdminRefill))
	}
	if !present {
		return tokenMissing, 0
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], a.sum[:]) == 1 {
		return tokenOK, 0
	}
	a.tokens = max(0, a.tokens-1)
	return tokenWrong, 0
}

// sameOrigin reports whether the request comes from a page of this server: no Origin
// header (not a browser's cross-origin request) or one naming the scheme, host and
// port it was sent to (https when it came over TLS, else http; a default port may be
// left out on either side), and no Sec-Fetch-Site saying another site sent it.
func sameOrigin(r *http.Request) (bool, string) {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false, "Sec-Fetch-Site is " + site
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true, ""
	}
	u, err := url.Parse(o)
	if err != nil || o == "null" || u.Host == "" {
		return false, "Origin " + strconv.Quote(o) + " is not this server"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if !strings.EqualFold(u.Scheme, scheme) || !strings.EqualFold(originHost(u.Host, scheme), originHost(r.Host, scheme)) {
		return false, "Origin " + strconv.Quote(o) + " is not this server (" + scheme + "://" + r.Host + ")"
	}
	return true, ""
}

// originHost is host[:port] without the scheme's default port, so that an Origin and
// a Host that leave it out and one that names it compare equal.
func originHost(hp, scheme string) string {
	def := ":80"
	if scheme == "https" {
		def = ":443"
	}
	return strings.TrimSuffix(hp, def)
}

// authorize applies the rules of the status page's actions, in this order, and
// answers the request when it fails them: no token configured (403, the page is
// read-only), another origin (403), anything in the URL (400: a token there would end
// up in logs and browser history), the bad-token budget spent (429), no bearer token
// (401), the wrong one (401, spending the budget), a body that is not JSON (415).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	refuse := func(reason string, code int, msg string) bool {
		s.countRefused(reason)
		remote, _, _ := net.SplitHostPort(r.RemoteAddr)
		s.lim.Load().Warn(s.log, "http:admin:"+reason, "status page: action refused", "reason", reason,
			"path", r.URL.Path, "remote", remote)
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgerelay"`)
		}
		writeJSONError(w, code, msg)
		return false
	}
	if !s.admin.enabled() {
		return refuse(RefusedReadOnly, http.StatusForbidden,
			"read-only: no http.admin_token (or http.admin_token_file) is configured, so the status page cannot change anything")
	}
	if ok, why := sameOrigin(r); !ok {
		return refuse(RefusedCrossOrigin, http.StatusForbidden, "cross-origin request refused: "+why)
	}
	if r.URL.RawQuery != "" {
		return refuse(RefusedTokenInURL, http.StatusBadRequest,
			"parameters in the URL are refused (a token there ends up in logs and history): send the token as Authorization: Bearer and the action as a JSON body")
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	switch v, wait := s.admin.attempt(tok, ok && strings.EqualFold(scheme, "Bearer") && tok != ""); v {
	case tokenLimited:
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return refuse(RefusedRateLimited, http.StatusTooManyRequests,
			"too many wrong tokens: admin requests are refused for a while; try again later")
	case tokenMissing:
		return refuse(RefusedNoToken, http.StatusUnauthorized, "an admin token is required: send Authorization: Bearer <http.admin_token>")
	case tokenWrong:
		return refuse(RefusedBadToken, http.StatusUnauthorized, "wrong admin token")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.countRefused(RefusedBadRequest)
		writeJSONError(w, http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
		return false
	}
	return true
}

// deadAction is the body of POST /api/dead-letters/retry and /drop: a sink, and the
// sequence numbers of its dead letters or all of them.
type deadAction struct {
	Sink string   `json:"sink"`
	Seqs []uint64 `json:"seqs"`
	All  bool     `json:"all"`
}

func (a *deadAction) validate() error {
	switch {
	case a.Sink == "":
		return errors.New(`"sink" is required`)
	case a.All == (len(a.Seqs) > 0):
		return errors.New(`give "seqs" (the dead letters' sequence numbers) or "all": true, not both or neither`)
	case len(a.Seqs) > maxSeqs:
		return fmt.Errorf(`"seqs" names %d dead letters; at most %d at once, or "all": true`, len(a.Seqs), maxSeqs)
	}
	return nil
}

// handleDead serves one of the actions: retry (move back to the outbox) or drop.
func (s *Server) handleDead(retry bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(w, r) {
			return
		}
		pageHeaders(w.Header())
		if !s.authorize(w, r) {
			return
		}
		p := s.provider()
		if p == nil {
			writeJSONError(w, http.StatusServiceUnavailable, "the daemon is not running yet")
			return
		}
		var a deadAction
		dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			s.countRefused(RefusedBadRequest)
			writeJSONError(w, http.StatusBadRequest, "the body is not a valid action: "+err.Error())
			return
		}
		if err := a.validate(); err != nil {
			s.countRefused(RefusedBadRequest)
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		seqs := a.Seqs
		if a.All {
			seqs = nil
		}
		act, verb := p.DropDead, "dropped"
		if retry {
			act, verb = p.RetryDead, "queued for delivery again"
		}
		n, left, err := act(r.Context(), a.Sink, seqs)
		if err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, ErrUnknownSink):
				code = http.StatusNotFound
			case errors.Is(err, ErrRefused):
				code = http.StatusConflict
			case errors.Is(err, ErrUnavailable):
				code = http.StatusServiceUnavailable
				w.Header().Set("Retry-After", "1")
			}
			writeJSONError(w, code, err.Error())
			return
		}
		remote, _, _ := net.SplitHostPort(r.RemoteAddr)
		s.log.Info("status page: dead letters "+verb, "sink", a.Sink, "count", n, "all", a.All, "remote", remote)
		// The texts are redacted, not the encoded answer: a secret of digits must not
		// garble the count.
		b, _ := json.Marshal(struct {
			Done    int    `json:"done"`
			Left    string `json:"left,omitempty"`
			Message string `json:"message"`
		}{n, secret.Redact(left), secret.Redact(fmt.Sprintf("%d dead letter(s) of %s %s", n, a.Sink, verb))})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(b, '\n'))
	}
}

// countRefused counts a refused admin request.
func (s *Server) countRefused(reason string) {
	if s.metrics != nil {
		s.metrics.GetOrCreateCounter(series(MetricAdminRefused, "reason", reason)).Inc()
	}
}
