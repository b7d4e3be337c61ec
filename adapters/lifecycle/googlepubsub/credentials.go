package googlepubsub

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Scope is the OAuth scope asked for: publishing only needs Pub/Sub.
const Scope = "https://www.googleapis.com/auth/pubsub"

// GoogleTokenURL is where authorized_user (and, by default, service_account)
// credentials are exchanged for an access token.
const GoogleTokenURL = "https://oauth2.googleapis.com/token"

// jwtBearer is the grant type of a signed service-account assertion (RFC 7523).
const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// metadataTokenPath is the metadata server's token of the default service account.
const metadataTokenPath = "/computeMetadata/v1/instance/service-accounts/default/token"

// metadataTimeout bounds the metadata request: on a machine outside Google Cloud
// nothing answers at 169.254.169.254, and the chain should say so soon.
const metadataTimeout = 5 * time.Second

// maxAnswer bounds what is read of an HTTP answer.
const maxAnswer = 64 << 10

// credFile is a credentials JSON file: the fields of both types used here.
type credFile struct {
	Type string `json:"type"`
	// service_account
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
	// authorized_user
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`

	key  *rsa.PrivateKey // parsed PrivateKey
	path string
}

// readCredentials reads and checks a credentials file. Its errors name the file
// and the field, never a value.
func readCredentials(path string) (*credFile, error) {
	b, err := secret.ReadBounded(path, secret.MaxSecretFile)
	if err != nil {
		return nil, fmt.Errorf("read the credentials file: %w", err)
	}
	return parseCredentials(b, path)
}

func parseCredentials(b []byte, path string) (*credFile, error) {
	f := &credFile{path: path}
	if err := json.Unmarshal(b, f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s is not JSON (syntax error at byte %d)", path, se.Offset)
		}
		return nil, fmt.Errorf("%s is not a credentials JSON object", path)
	}
	for _, v := range f.secrets() {
		secret.Register(v)
	}
	missing := func(field string) error {
		return fmt.Errorf("%s: %s credentials without %q", path, f.Type, field)
	}
	switch f.Type {
	case "service_account":
		switch {
		case f.ClientEmail == "":
			return nil, missing("client_email")
		case f.PrivateKey == "":
			return nil, missing("private_key")
		}
		key, err := parseKey(f.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("%s: private_key: %w", path, err)
		}
		f.key = key
		if f.TokenURI == "" {
			f.TokenURI = GoogleTokenURL
		}
	case "authorized_user":
		switch {
		case f.ClientID == "":
			return nil, missing("client_id")
		case f.ClientSecret == "":
			return nil, missing("client_secret")
		case f.RefreshToken == "":
			return nil, missing("refresh_token")
		}
		if f.TokenURI == "" {
			f.TokenURI = GoogleTokenURL
		}
	case "":
		return nil, fmt.Errorf("%s has no \"type\" (service_account or authorized_user)", path)
	default:
		return nil, fmt.Errorf("%s: credentials of type %q are not supported (service_account or authorized_user)", path, excerptType(f.Type))
	}
	u, err := url.Parse(f.TokenURI)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return nil, fmt.Errorf("%s: token_uri is not an http(s) URL", path)
	case u.User != nil:
		return nil, fmt.Errorf("%s: token_uri may not carry user info", path)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		// The POST carries the refresh token and client secret, or a signed
		// assertion: not in clear, except to a local fake or proxy.
		return nil, fmt.Errorf("%s: token_uri %s: http is allowed to a loopback address only (the token request would travel in clear): use https",
			path, secret.Excerpt(secret.RedactURL(f.TokenURI), 64))
	}
	return f, nil
}

func excerptType(t string) string {
	if len(t) > 40 {
		return t[:40] + "..."
	}
	return t
}

// secrets returns the file's secret values.
func (f *credFile) secrets() []string {
	var out []string
	for _, v := range []string{f.PrivateKey, f.ClientSecret, f.RefreshToken} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parseKey reads an RSA private key from PEM, PKCS#8 or PKCS#1.
func parseKey(s string) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, errors.New("not a PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T key, not RSA", k)
		}
		return rk, nil
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("neither a PKCS#8 nor a PKCS#1 RSA private key")
	}
	return k, nil
}

// token is an access token and when it expires.
type token struct {
	value   string
	expires time.Time
	margin  time.Duration // refresh this long before expires
}

func (t token) valid(now time.Time) bool {
	return t.value != "" && now.Before(t.expires.Add(-t.margin))
}

// source gets access tokens.
type source interface {
	// fetch gets a new token.
	fetch(ctx context.Context, p *Publisher) (token, error)
	// String says where tokens come from, for errors.
	String() string
}

// serviceAccount signs a JWT with the key and exchanges it at token_uri.
type serviceAccount struct{ f *credFile }

func (s serviceAccount) String() string {
	return fmt.Sprintf("service account %s (%s)", s.f.ClientEmail, s.f.path)
}

func (s serviceAccount) fetch(ctx context.Context, p *Publisher) (token, error) {
	now := p.d.Clock.Now()
	assertion, err := signJWT(s.f, now)
	if err != nil {
		return token{}, err
	}
	form := url.Values{"grant_type": {jwtBearer}, "assertion": {assertion}}
	t, err := p.exchange(ctx, s.f.TokenURI, form, now)
	return t, secret.Scrub(err, assertion)
}

// signJWT makes the RS256 assertion of a service account, valid for an hour.
func signJWT(f *credFile, now time.Time) (string, error) {
	hdr := map[string]string{"alg": "RS256", "typ": "JWT"}
	if f.PrivateKeyID != "" {
		hdr["kid"] = f.PrivateKeyID
	}
	iat := now.Unix()
	claims := map[string]any{
		"iss": f.ClientEmail, "scope": Scope, "aud": f.TokenURI,
		"iat": iat, "exp": iat + 3600,
	}
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign the token request of %s: %w", f.ClientEmail, err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// authorizedUser exchanges a refresh token (gcloud auth application-default login).
type authorizedUser struct{ f *credFile }

func (a authorizedUser) String() string {
	return fmt.Sprintf("authorized user %s (%s)", a.f.ClientID, a.f.path)
}

func (a authorizedUser) fetch(ctx context.Context, p *Publisher) (token, error) {
	form := url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {a.f.RefreshToken},
		"client_id": {a.f.ClientID}, "client_secret": {a.f.ClientSecret},
	}
	return p.exchange(ctx, a.f.TokenURI, form, p.d.Clock.Now())
}

// metadata asks the metadata server of GCE, GKE, Cloud Run for the default
// service account's token.
type metadata struct{ host string }

func (m metadata) String() string { return "the metadata server at " + m.host }

func (m metadata) fetch(ctx context.Context, p *Publisher) (token, error) {
	ctx, cancel := context.WithTimeout(ctx, min(p.cfg.Timeout, metadataTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.host+metadataTokenPath, nil)
	if err != nil {
		return token{}, fmt.Errorf("metadata server %q: %w", m.host, secret.URLError(err))
	}
	req.Header.Set("Metadata-Flavor", "Google")
	req.Header.Set("User-Agent", p.userAgent())
	now := p.d.Clock.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return token{}, fmt.Errorf("metadata server %s: %w", m.host, transportError(ctx, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode/100 == 3 {
			return token{}, fmt.Errorf("metadata server %s: %s (%s)", m.host, resp.Status, redirectHint)
		}
		return token{}, fmt.Errorf("metadata server %s: %s: %s", m.host, resp.Status, secret.Excerpt(string(body), 200))
	}
	return parseToken(body, now, "metadata server "+m.host)
}

// exchange posts form to a token endpoint and reads the token it answers.
func (p *Publisher) exchange(ctx context.Context, uri string, form url.Values, now time.Time) (token, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(form.Encode()))
	if err != nil {
		return token{}, fmt.Errorf("token endpoint: %w", secret.URLError(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", p.userAgent())
	where := "token endpoint " + secret.RedactURL(uri)
	resp, err := p.client.Do(req)
	if err != nil {
		return token{}, fmt.Errorf("%s: %w", where, transportError(ctx, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		detail := resp.Status
		if resp.StatusCode/100 == 3 {
			return token{}, fmt.Errorf("%s: %s (%s)", where, resp.Status, redirectHint)
		}
		if e.Error != "" {
			detail = e.Error
			if e.Description != "" {
				detail += ": " + e.Description
			}
		} else if len(body) > 0 {
			detail += ": " + string(body)
		}
		detail = secret.Excerpt(detail, 300)
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return token{}, fmt.Errorf("%s: %w: %s", where, ErrCredentialsRefused, detail)
		}
		return token{}, fmt.Errorf("%s: %s", where, detail)
	}
	return parseToken(body, now, where)
}

// parseToken reads {"access_token","expires_in"} and registers the token as a
// secret.
func parseToken(body []byte, now time.Time, where string) (token, error) {
	var a struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.AccessToken == "" {
		return token{}, fmt.Errorf("%s: the answer holds no access_token", where)
	}
	secret.Register(a.AccessToken)
	life := time.Duration(a.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour
	}
	return token{value: a.AccessToken, expires: now.Add(life), margin: min(RefreshMargin, life/2)}, nil
}

// RefreshMargin is how long before its expiry a token is replaced (half its
// lifetime for one shorter than twice this).
const RefreshMargin = 5 * time.Minute

// resolve walks the Application Default Credentials chain: the configured file
// (GOOGLE_APPLICATION_CREDENTIALS), the gcloud well-known file under $HOME, the
// metadata server.
func (p *Publisher) resolve() (source, error) {
	path := p.cfg.CredentialsFile
	if path == "" {
		if v, ok := p.d.Env(EnvCredentials); ok {
			path = strings.TrimSpace(v)
		}
	}
	if path != "" {
		f, err := readCredentials(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvCredentials, err)
		}
		return fileSource(f), nil
	}
	if home, ok := p.d.Env(EnvHome); ok && home != "" {
		wk := filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
		b, err := secret.ReadBounded(wk, secret.MaxSecretFile)
		if err == nil {
			f, err := parseCredentials(b, wk)
			if err != nil {
				return nil, err
			}
			return fileSource(f), nil
		}
	}
	host := DefaultMetadataHost
	if v, ok := p.d.Env(EnvMetadataHost); ok && strings.TrimSpace(v) != "" {
		host = strings.TrimSpace(v)
		if err := checkHostPort(host); err != nil && !errors.Is(err, errNoPort) {
			return nil, fmt.Errorf("%s: %w", EnvMetadataHost, err)
		}
	}
	return metadata{host: host}, nil
}

func fileSource(f *credFile) source {
	if f.Type == "service_account" {
		return serviceAccount{f}
	}
	return authorizedUser{f}
}
