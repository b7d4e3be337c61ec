package awssns

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Fixed addresses of the chain.
const (
	containerHost        = "169.254.170.2"
	defaultIMDSEndpoint  = "http://169.254.169.254"
	imdsTokenTTL         = "21600"
	imdsTimeout          = 2 * time.Second // an edge box is rarely an EC2 instance: give up soon
	maxCredentialsAnswer = 64 << 10
)

// ErrNoCredentials is returned (wrapped) when no link of the chain has credentials.
var ErrNoCredentials = errors.New("no AWS credentials found")

// chain resolves credentials in the order of the AWS SDKs: static (the
// environment, then the YAML keys), web identity, the shared credentials file, the
// container endpoint, instance metadata (IMDSv2). A link that is not configured is
// skipped; a configured link that fails is the answer (its error), so that a broken
// setup is reported rather than hidden behind the next link.
type chain struct {
	cfg     Config
	env     lifecycle.Env
	http    *http.Client
	timeout time.Duration
	now     func() time.Time
	version string
}

func (ch *chain) getenv(name string) string {
	v, _ := ch.env(name)
	return strings.TrimSpace(v)
}

// retrieve returns credentials from the first configured link.
func (ch *chain) retrieve(ctx context.Context) (Credentials, error) {
	if id, key := ch.getenv(EnvAccessKeyID), ch.getenv(EnvSecretAccessKey); id != "" || key != "" {
		if id == "" || key == "" {
			return Credentials{}, fmt.Errorf("%s and %s must be set together", EnvAccessKeyID, EnvSecretAccessKey)
		}
		return Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: ch.getenv(EnvSessionToken), Source: "environment"}, nil
	}
	if ch.cfg.AccessKeyID != "" {
		return Credentials{AccessKeyID: ch.cfg.AccessKeyID, SecretAccessKey: ch.cfg.SecretAccessKey.Reveal(),
			SessionToken: ch.cfg.SessionToken.Reveal(), Source: "configuration"}, nil
	}
	if file := ch.getenv(EnvWebIdentityTokenFile); file != "" {
		return ch.webIdentity(ctx, file)
	}
	var tried []string
	c, ok, err := ch.sharedFile()
	if err != nil || ok {
		return c, err
	}
	tried = append(tried, "the shared credentials file ("+ch.sharedFilePath()+": none)")
	if ch.getenv(EnvContainerFullURI) != "" || ch.getenv(EnvContainerRelativeURI) != "" {
		return ch.container(ctx)
	}
	if strings.EqualFold(ch.getenv(EnvIMDSDisabled), "true") {
		tried = append(tried, "instance metadata (disabled by "+EnvIMDSDisabled+")")
	} else {
		c, err := ch.imds(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return Credentials{}, err
		}
		tried = append(tried, "instance metadata ("+err.Error()+")")
	}
	return Credentials{}, fmt.Errorf("%w: set %s and %s, or a profile in the shared credentials file, or run with a role (web identity, container or instance); tried %s",
		ErrNoCredentials, EnvAccessKeyID, EnvSecretAccessKey, strings.Join(tried, ", "))
}

// sharedFilePath is AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials.
func (ch *chain) sharedFilePath() string {
	if p := ch.getenv(EnvSharedCredentials); p != "" {
		return p
	}
	home := ch.getenv("HOME")
	if home == "" {
		return filepath.Join("~", ".aws", "credentials")
	}
	return filepath.Join(home, ".aws", "credentials")
}

// sharedFile reads the profile from the shared credentials file. A missing file is
// not an error (ok false); a missing profile is one only when a profile was named.
func (ch *chain) sharedFile() (Credentials, bool, error) {
	path := ch.sharedFilePath()
	if strings.HasPrefix(path, "~") {
		return Credentials{}, false, nil
	}
	profile, named := ch.getenv(EnvProfile), true
	if profile == "" {
		profile = ch.cfg.Profile
	}
	if profile == "" {
		profile, named = "default", false
	}
	b, err := secret.ReadBounded(path, maxCredentialsAnswer)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Credentials{}, false, nil
		}
		return Credentials{}, false, fmt.Errorf("shared credentials file %s: %w", path, err)
	}
	sections := parseINI(b)
	kv, found := sections[profile]
	if !found {
		if named {
			return Credentials{}, false, fmt.Errorf("shared credentials file %s has no profile [%s] (%s)", path, profile, EnvProfile)
		}
		return Credentials{}, false, nil
	}
	c := Credentials{AccessKeyID: kv["aws_access_key_id"], SecretAccessKey: kv["aws_secret_access_key"],
		SessionToken: kv["aws_session_token"], Source: "shared credentials file " + path + " [" + profile + "]"}
	secret.Register(c.SecretAccessKey, c.SessionToken)
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credentials{}, false, fmt.Errorf("shared credentials file %s, profile [%s]: aws_access_key_id and aws_secret_access_key are both required", path, profile)
	}
	return c, true, nil
}

// parseINI reads sections of key = value lines; # and ; start comments. Section
// names are trimmed, keys lower-cased.
func parseINI(b []byte) map[string]map[string]string {
	out := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				cur = nil
				continue
			}
			name := strings.TrimSpace(line[1:end])
			name = strings.TrimSpace(strings.TrimPrefix(name, "profile "))
			if out[name] == nil {
				out[name] = map[string]string{}
			}
			cur = out[name]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || cur == nil {
			continue
		}
		cur[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return out
}

// do sends req with the chain's timeout and returns the body of a 2xx answer.
func (ch *chain) do(ctx context.Context, req *http.Request, timeout time.Duration, what string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", userAgent(ch.version))
	resp, err := ch.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, transportError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCredentialsAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s: read the answer: %w", what, transportError(err))
	}
	if resp.StatusCode/100 != 2 {
		return body, &httpStatusError{what: what, status: resp.StatusCode, body: body}
	}
	return body, nil
}

type httpStatusError struct {
	what   string
	status int
	body   []byte
}

func (e *httpStatusError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d", e.what, e.status)
	if e.status/100 == 3 {
		return msg + " (" + redirectHint + ")"
	}
	if ae := parseErrorXML(e.body); ae.Code != "" {
		msg += " " + ae.Code
		if ae.Message != "" {
			msg += ": " + secret.Excerpt(ae.Message, 200)
		}
	}
	return msg
}

// webIdentity exchanges the token file's token for a role's credentials with STS
// AssumeRoleWithWebIdentity (unsigned). The file is read on every refresh: the
// token is rotated by the platform (EKS IRSA, GitHub OIDC …).
func (ch *chain) webIdentity(ctx context.Context, file string) (Credentials, error) {
	role := ch.getenv(EnvRoleARN)
	if role == "" {
		return Credentials{}, fmt.Errorf("%s is set without %s", EnvWebIdentityTokenFile, EnvRoleARN)
	}
	tok, err := secret.ReadFile(file)
	if err != nil {
		return Credentials{}, fmt.Errorf("web identity token (%s): %w", EnvWebIdentityTokenFile, err)
	}
	session := ch.getenv(EnvRoleSessionName)
	if session == "" {
		session = "edgerelay-" + strconv.FormatInt(ch.now().UnixNano(), 10)
	}
	endpoint := ch.getenv(EnvEndpointSTS)
	if endpoint == "" {
		endpoint = ch.getenv(EnvEndpoint)
	}
	if endpoint == "" {
		endpoint = "https://sts." + ch.cfg.Region + "." + dnsSuffix(ch.cfg.Region) + "/"
	}
	form := url.Values{
		"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
		"RoleArn": {role}, "RoleSessionName": {session}, "WebIdentityToken": {tok},
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Credentials{}, fmt.Errorf("STS endpoint: %w", secret.URLError(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	body, err := ch.do(ctx, req, ch.timeout, "STS AssumeRoleWithWebIdentity for "+role)
	if err != nil {
		return Credentials{}, secret.Scrub(err, tok)
	}
	var out struct {
		Result struct {
			Credentials struct {
				AccessKeyID     string `xml:"AccessKeyId"`
				SecretAccessKey string `xml:"SecretAccessKey"`
				SessionToken    string `xml:"SessionToken"`
				Expiration      string `xml:"Expiration"`
			} `xml:"Credentials"`
		} `xml:"AssumeRoleWithWebIdentityResult"`
	}
	if err := xml.Unmarshal(body, &out); err != nil {
		return Credentials{}, fmt.Errorf("STS AssumeRoleWithWebIdentity: the answer is not XML: %w", err)
	}
	k := out.Result.Credentials
	return temporary(k.AccessKeyID, k.SecretAccessKey, k.SessionToken, k.Expiration, "web identity ("+role+")")
}

// temporary checks and registers credentials an endpoint handed out.
func temporary(id, key, token, expiration, source string) (Credentials, error) {
	secret.Register(key, token)
	if id == "" || key == "" {
		return Credentials{}, fmt.Errorf("%s: the answer has no access key id or secret access key", source)
	}
	c := Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: token, Source: source}
	if expiration != "" {
		t, err := time.Parse(time.RFC3339, expiration)
		if err != nil {
			return Credentials{}, fmt.Errorf("%s: expiration %q is not an RFC 3339 time", source, lifecycle.Excerpt(expiration))
		}
		c.Expires = t
	}
	return c, nil
}

// container reads the ECS/EKS container credentials endpoint.
func (ch *chain) container(ctx context.Context) (Credentials, error) {
	var endpoint string
	if rel := ch.getenv(EnvContainerRelativeURI); rel != "" {
		endpoint = "http://" + containerHost + rel
	} else {
		endpoint = ch.getenv(EnvContainerFullURI)
		if err := checkContainerURI(endpoint); err != nil {
			return Credentials{}, err
		}
	}
	req, err := http.NewRequest(http.MethodGet, endpoint, nil)
	if err != nil {
		return Credentials{}, fmt.Errorf("container credentials endpoint: %w", secret.URLError(err))
	}
	token := ch.getenv(EnvContainerToken)
	if file := ch.getenv(EnvContainerTokenFile); file != "" {
		if token, err = secret.ReadFile(file); err != nil {
			return Credentials{}, fmt.Errorf("container authorization token (%s): %w", EnvContainerTokenFile, err)
		}
	}
	if token != "" {
		if strings.ContainsAny(token, "\r\n") {
			return Credentials{}, errors.New("container authorization token has a line break")
		}
		secret.Register(token)
		req.Header.Set("Authorization", token)
	}
	req.Header.Set("Accept", "application/json")
	body, err := ch.do(ctx, req, ch.timeout, "container credentials endpoint "+secret.RedactURL(endpoint))
	if err != nil {
		return Credentials{}, secret.Scrub(err, token)
	}
	return parseJSONCredentials(body, "container credentials")
}

// checkContainerURI allows what the SDKs allow for a full URI: HTTPS, or HTTP to a
// loopback address or to the ECS/EKS agents.
func checkContainerURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", EnvContainerFullURI, secret.URLError(err))
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme != "http" {
		return fmt.Errorf("%s: %s is not an http or https URL", EnvContainerFullURI, secret.RedactURL(raw))
	}
	host := u.Hostname()
	if host == "localhost" || host == containerHost || host == "169.254.170.23" || host == "fd00:ec2::23" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s: plain http is allowed only to a loopback address or the container agent, not %s", EnvContainerFullURI, host)
}

// parseJSONCredentials reads the JSON of the container and instance metadata
// endpoints.
func parseJSONCredentials(body []byte, source string) (Credentials, error) {
	var v struct {
		Code            string
		Message         string
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		Token           string
		Expiration      string
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return Credentials{}, fmt.Errorf("%s: the answer is not JSON: %v", source, err)
	}
	if v.Code != "" && v.Code != "Success" {
		return Credentials{}, fmt.Errorf("%s: %s %s", source, v.Code, secret.Excerpt(v.Message, 200))
	}
	return temporary(v.AccessKeyID, v.SecretAccessKey, v.Token, v.Expiration, source)
}

// imds asks the instance metadata service (IMDSv2: a session token first) for the
// instance role's credentials.
func (ch *chain) imds(ctx context.Context) (Credentials, error) {
	base := ch.getenv(EnvIMDSEndpoint)
	if base == "" {
		base = defaultIMDSEndpoint
	}
	base = strings.TrimRight(base, "/")
	timeout := min(imdsTimeout, ch.timeout)
	req, err := http.NewRequest(http.MethodPut, base+"/latest/api/token", nil)
	if err != nil {
		return Credentials{}, fmt.Errorf("instance metadata endpoint: %w", secret.URLError(err))
	}
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", imdsTokenTTL)
	tokB, err := ch.do(ctx, req, timeout, "instance metadata token")
	if err != nil {
		return Credentials{}, err
	}
	tok := strings.TrimSpace(string(tokB))
	secret.Register(tok)
	get := func(path, what string) ([]byte, error) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-aws-ec2-metadata-token", tok)
		return ch.do(ctx, req, timeout, what)
	}
	const credPath = "/latest/meta-data/iam/security-credentials/"
	roles, err := get(credPath, "instance metadata role")
	if err != nil {
		var se *httpStatusError
		if errors.As(err, &se) && se.status == http.StatusNotFound {
			return Credentials{}, errors.New("the instance has no IAM role")
		}
		return Credentials{}, err
	}
	role, _, _ := strings.Cut(strings.TrimSpace(string(roles)), "\n")
	role = strings.TrimSpace(role)
	if role == "" {
		return Credentials{}, errors.New("the instance has no IAM role")
	}
	body, err := get(credPath+url.PathEscape(role), "instance metadata credentials of role "+role)
	if err != nil {
		return Credentials{}, err
	}
	return parseJSONCredentials(body, "instance metadata (role "+role+")")
}
