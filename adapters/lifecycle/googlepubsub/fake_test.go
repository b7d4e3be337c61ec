package googlepubsub

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock/clocktest"
	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// The fake's fixed identities.
const (
	testEmail        = "edge@my-project.iam.gserviceaccount.com"
	testKeyID        = "0123456789abcdef0123456789abcdef01234567"
	testClientID     = "32555940559.apps.googleusercontent.com"
	testClientSecret = "client-secret-ZmFrZQ"
	testRefresh      = "1//refresh-token-of-the-test-user"
	testProject      = "my-project"
	wantScope        = "https://www.googleapis.com/auth/pubsub"
)

var (
	keysOnce sync.Once
	keyA     *rsa.PrivateKey // the service account's registered key
	keyB     *rsa.PrivateKey // a key Google does not know
)

// testKeys generates the two RSA keys once per test binary.
func testKeys(t testing.TB) (good, wrong *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if keyA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keyB, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return keyA, keyB
}

// fakeGoogle is Pub/Sub's REST API, Google's OAuth token endpoint and a metadata
// server in one handler. Over TLS (srv) it is the real endpoint: every publish
// needs a bearer token it issued. In plain HTTP (plain) it is the emulator (no
// Authorization header allowed) and the metadata server.
type fakeGoogle struct {
	t     *testing.T
	srv   *httptest.Server
	plain *httptest.Server
	clock *clocktest.Fake
	pub   *rsa.PublicKey
	aud   string // the token endpoint's URL as the publisher sees it, when not srv's

	mu       sync.Mutex // guards the fields below
	tokens   map[string]bool
	nTokens  int
	grants   []string // grant types of the token requests, in order
	deny     bool     // answer publishes with 403
	subs     []chan lifecycletest.Received
	nPublish int
	authSeen []string // Authorization headers of the publishes
}

func newFake(t *testing.T) *fakeGoogle {
	good, _ := testKeys(t)
	f := &fakeGoogle{
		t: t, pub: &good.PublicKey, tokens: map[string]bool{},
		clock: clocktest.NewFake(time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)),
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	f.plain = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.plain.Close)
	return f
}

// tokenURL is the fake's token endpoint.
func (f *fakeGoogle) tokenURL() string {
	if f.aud != "" {
		return f.aud
	}
	return f.srv.URL + "/token"
}

// tokenURLOverride sets the audience the JWTs must name (a proxy's URL); call it
// before the first publisher is built.
func (f *fakeGoogle) tokenURLOverride(u string) { f.aud = u }

// plainHost is host:port of the plain HTTP side (emulator, metadata server).
func (f *fakeGoogle) plainHost() string { return strings.TrimPrefix(f.plain.URL, "http://") }

func (f *fakeGoogle) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		http.Error(w, "Ok", http.StatusOK)
	case r.URL.Path == "/token":
		f.serveToken(w, r)
	case r.URL.Path == "/computeMetadata/v1/instance/service-accounts/default/token":
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
			return
		}
		f.issue(w, "metadata", 3599)
	case strings.HasPrefix(r.URL.Path, "/v1/projects/"):
		f.servePublish(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveToken is the OAuth token endpoint: a jwt-bearer assertion, verified with
// the service account's public key, or a refresh token.
func (f *fakeGoogle) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	switch g := r.PostForm.Get("grant_type"); g {
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if err := f.verifyJWT(r.PostForm.Get("assertion")); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_grant", err.Error())
			return
		}
		f.issue(w, "jwt-bearer", 3600)
	case "refresh_token":
		if r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testClientSecret {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
			return
		}
		if r.PostForm.Get("refresh_token") != testRefresh {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Bad Request")
			return
		}
		f.issue(w, "refresh_token", 3599)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+g)
	}
}

// verifyJWT checks the assertion as Google does: RS256 signed by the account's
// key, the claims of a Pub/Sub token for this endpoint, issued now, for an hour.
func (f *fakeGoogle) verifyJWT(assertion string) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWT")
	}
	enc := base64.RawURLEncoding
	var hdr map[string]string
	var claims struct {
		Iss, Scope, Aud string
		Iat, Exp        int64
		Sub             *string
	}
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("not base64url without padding")
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return fmt.Errorf("header: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(cb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&claims); err != nil {
		return fmt.Errorf("claims: %v", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(f.pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("Invalid JWT Signature.")
	}
	now := f.clock.Now().Unix()
	switch {
	case hdr["alg"] != "RS256" || hdr["typ"] != "JWT" || hdr["kid"] != testKeyID || len(hdr) != 3:
		return fmt.Errorf("header %v", hdr)
	case claims.Iss != testEmail:
		return fmt.Errorf("iss %q", claims.Iss)
	case claims.Scope != wantScope:
		return fmt.Errorf("scope %q", claims.Scope)
	case claims.Aud != f.tokenURL():
		return fmt.Errorf("aud %q", claims.Aud)
	case claims.Iat != now:
		return fmt.Errorf("iat %d, now is %d", claims.Iat, now)
	case claims.Exp != claims.Iat+3600:
		return fmt.Errorf("exp %d", claims.Exp)
	}
	return nil
}

// issue answers a new access token.
func (f *fakeGoogle) issue(w http.ResponseWriter, grant string, life int) {
	f.mu.Lock()
	f.nTokens++
	tok := fmt.Sprintf("ya29.fake-access-token-%d-%s", f.nTokens, grant)
	f.tokens[tok] = true
	f.grants = append(f.grants, grant)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": life, "token_type": "Bearer"})
}

func oauthError(w http.ResponseWriter, code int, e, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": e, "error_description": desc})
}

func apiError(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

// servePublish is topics.publish: it checks the path, the token (TLS side) or its
// absence (emulator side), decodes the body strictly and hands the message to the
// subscribers.
func (f *fakeGoogle) servePublish(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/projects/"+testProject+"/topics/")
	topic, ok2 := strings.CutSuffix(rest, ":publish")
	if !ok || !ok2 || r.Method != http.MethodPost || strings.Contains(topic, "/") {
		apiError(w, http.StatusNotFound, "NOT_FOUND", "Resource not found (resource="+r.URL.Path+").")
		return
	}
	auth := r.Header.Get("Authorization")
	f.mu.Lock()
	f.authSeen = append(f.authSeen, auth)
	valid := f.tokens[strings.TrimPrefix(auth, "Bearer ")] && strings.HasPrefix(auth, "Bearer ")
	deny := f.deny
	f.mu.Unlock()
	if r.TLS != nil && !valid {
		apiError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token.")
		return
	}
	if r.TLS == nil && auth != "" {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "the emulator test expects no Authorization header")
		return
	}
	if deny {
		apiError(w, http.StatusForbidden, "PERMISSION_DENIED", "User not authorized to perform this action.")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "content type "+ct)
		return
	}
	var req struct {
		Messages []struct {
			Data       string            `json:"data"`
			Attributes map[string]string `json:"attributes"`
		} `json:"messages"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Messages) != 1 {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("body: %v, %d messages", err, len(req.Messages)))
		return
	}
	data, err := base64.StdEncoding.DecodeString(req.Messages[0].Data)
	if err != nil {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "data is not base64")
		return
	}
	f.mu.Lock()
	f.nPublish++
	id := fmt.Sprint(f.nPublish)
	subs := f.subs
	f.mu.Unlock()
	for _, ch := range subs {
		ch <- lifecycletest.Received{Where: topic, Body: data, Attrs: req.Messages[0].Attributes}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"messageIds":[%q]}`, id)
}

// subscribe returns what arrives from now on.
func (f *fakeGoogle) subscribe() <-chan lifecycletest.Received {
	ch := make(chan lifecycletest.Received, 100)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	return ch
}

func (f *fakeGoogle) tokenCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nTokens
}

func (f *fakeGoogle) setDeny(v bool) {
	f.mu.Lock()
	f.deny = v
	f.mu.Unlock()
}

// revoke forgets every token issued.
func (f *fakeGoogle) revoke() {
	f.mu.Lock()
	clear(f.tokens)
	f.mu.Unlock()
}

// keyPEM encodes k as PKCS#8 ("PRIVATE KEY", what Google issues) or PKCS#1.
func keyPEM(t testing.TB, k *rsa.PrivateKey, pkcs1 bool) string {
	t.Helper()
	if pkcs1 {
		return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// writeJSON writes v to a file in a new temporary directory.
func writeJSON(t testing.TB, name string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serviceAccountFile writes a service_account key file for key, its token_uri
// pointing at tokenURI.
func serviceAccountFile(t testing.TB, key *rsa.PrivateKey, pkcs1 bool, tokenURI string) string {
	return writeJSON(t, "sa.json", map[string]string{
		"type": "service_account", "project_id": testProject, "private_key_id": testKeyID,
		"private_key": keyPEM(t, key, pkcs1), "client_email": testEmail, "client_id": "1234567890",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	})
}

// authorizedUserFile writes what gcloud auth application-default login leaves.
func authorizedUserFile(t testing.TB, dir, tokenURI string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{
		"type": "authorized_user", "client_id": testClientID, "client_secret": testClientSecret,
		"refresh_token": testRefresh, "token_uri": tokenURI, "quota_project_id": testProject,
	})
	p := filepath.Join(dir, "application_default_credentials.json")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// captureBody publishes m in emulator mode to a server that keeps the raw request
// body, and returns it.
func captureBody(t *testing.T, m lifecycle.Message) string {
	t.Helper()
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			got, _ = io.ReadAll(r.Body)
		}
		_, _ = io.WriteString(w, `{"messageIds":["1"]}`)
	}))
	defer srv.Close()
	cfg := NewConfig()
	cfg.Project, cfg.EmulatorHost = testProject, strings.TrimPrefix(srv.URL, "http://")
	p, err := cfg.Build(lifecycle.Deps{Log: slog.New(slog.DiscardHandler), Clock: clocktest.NewFake(time.Now()), Env: lifecycle.MapEnv(nil), HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	return string(got)
}
