package awssns

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Name is the adapter's EVENT_BROKER_ADAPTER value and YAML block (events.aws_sns).
const Name = "aws_sns"

// The adapter's own variables (the seed's) and the endpoint overrides.
const (
	EnvRegion         = "EVENT_BROKER_AWS_SNS_REGION"
	EnvTopicARNPrefix = "EVENT_BROKER_AWS_SNS_TOPIC_ARN_PREFIX"
	EnvEndpointSNS    = "AWS_ENDPOINT_URL_SNS"
	EnvEndpoint       = "AWS_ENDPOINT_URL"
)

// The standard AWS credential chain's variables, read through lifecycle.Deps.Env
// when credentials are resolved (Connect, and before temporary ones expire).
const (
	EnvAccessKeyID          = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey      = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken         = "AWS_SESSION_TOKEN"
	EnvWebIdentityTokenFile = "AWS_WEB_IDENTITY_TOKEN_FILE"
	EnvRoleARN              = "AWS_ROLE_ARN"
	EnvRoleSessionName      = "AWS_ROLE_SESSION_NAME"
	EnvEndpointSTS          = "AWS_ENDPOINT_URL_STS"
	EnvSharedCredentials    = "AWS_SHARED_CREDENTIALS_FILE"
	EnvProfile              = "AWS_PROFILE"
	EnvContainerFullURI     = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvContainerRelativeURI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
	EnvContainerToken       = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
	EnvContainerTokenFile   = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	EnvIMDSEndpoint         = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
	EnvIMDSDisabled         = "AWS_EC2_METADATA_DISABLED"
)

// DefaultTimeout bounds one HTTP request (SNS, STS, container or instance metadata)
// when Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config configures the aws_sns lifecycle publisher (YAML events.aws_sns).
type Config struct {
	// Region is the AWS region the requests are signed for and, without an
	// endpoint, the one whose SNS endpoint is used (sns.<region>.amazonaws.com).
	// Required.
	Region string `yaml:"region"`
	// TopicARNPrefix is prepended to the domain topic (edge-nodes-events …) to give
	// the topic ARN: arn:aws:sns:us-east-1:123456789012: . Required.
	TopicARNPrefix string `yaml:"topic_arn_prefix"`
	// Endpoint replaces https://sns.<region>.amazonaws.com/ (LocalStack, a VPC
	// endpoint, a test fake). Empty means the regional endpoint.
	Endpoint string `yaml:"endpoint"`
	// AccessKeyID and SecretAccessKey are static credentials; the variables
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY override them. Empty means the
	// rest of the credential chain.
	AccessKeyID     string       `yaml:"access_key_id"`
	SecretAccessKey secret.Value `yaml:"secret_access_key"`
	// SessionToken goes with temporary static credentials (AWS_SESSION_TOKEN).
	SessionToken secret.Value `yaml:"session_token"`
	// Profile is the shared credentials file's profile (AWS_PROFILE). Empty means
	// "default".
	Profile string `yaml:"profile"`
	// Timeout bounds each HTTP request. Zero means 10s.
	Timeout time.Duration `yaml:"timeout"`
	// VerifyOnConnect makes Connect send a GetTopicAttributes for the nodes topic,
	// so that an unreachable endpoint, rejected credentials or a missing topic show
	// before the first event. An answer "not authorized" (a Publish-only policy)
	// counts as success. False means Connect only resolves the credentials.
	VerifyOnConnect bool `yaml:"verify_on_connect"`

	// Which of the static pair ApplyEnv took from the environment: the chain uses
	// the environment's pair or the YAML pair, never one of each.
	envKeyID, envSecret bool
}

// Variables are the variables the adapter reads.
var Variables = []string{
	EnvRegion, EnvTopicARNPrefix, EnvEndpointSNS, EnvEndpoint,
	EnvAccessKeyID, EnvSecretAccessKey, EnvSessionToken,
	EnvWebIdentityTokenFile, EnvRoleARN, EnvRoleSessionName, EnvEndpointSTS,
	EnvSharedCredentials, EnvProfile, "HOME",
	EnvContainerFullURI, EnvContainerRelativeURI, EnvContainerToken, EnvContainerTokenFile,
	EnvIMDSEndpoint, EnvIMDSDisabled,
}

func init() {
	lifecycle.Register(lifecycle.Spec{
		Name:      Name,
		Variables: Variables,
		NewConfig: func() lifecycle.Config { c := DefaultConfig(); return &c },
	})
}

// DefaultConfig returns a Config with the defaults set.
func DefaultConfig() Config {
	return Config{Timeout: DefaultTimeout, VerifyOnConnect: true}
}

// ApplyEnv overrides the settings with the variables env has.
func (c *Config) ApplyEnv(env lifecycle.Env) error {
	lifecycle.String(env, EnvRegion, &c.Region)
	lifecycle.String(env, EnvTopicARNPrefix, &c.TopicARNPrefix)
	if v, ok := env(EnvEndpointSNS); ok && v != "" {
		c.Endpoint = v
	} else if v, ok := env(EnvEndpoint); ok && v != "" {
		c.Endpoint = v
	}
	lifecycle.String(env, EnvAccessKeyID, &c.AccessKeyID)
	if v, ok := env(EnvAccessKeyID); ok {
		c.envKeyID = strings.TrimSpace(v) != ""
	}
	if v, ok := env(EnvSecretAccessKey); ok {
		secret.Register(v)
		c.SecretAccessKey = secret.Value(v)
		c.envSecret = strings.TrimSpace(v) != ""
	}
	if v, ok := env(EnvSessionToken); ok {
		secret.Register(v)
		c.SessionToken = secret.Value(v)
	}
	lifecycle.String(env, EnvProfile, &c.Profile)
	return nil
}

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
)

// Validate reports every setting that cannot work, each naming its variable and
// YAML key. It never quotes a secret.
func (c *Config) Validate() error {
	var errs []error
	add := func(variable, key, format string, args ...any) {
		if variable == "" { // a YAML-only setting
			errs = append(errs, lifecycle.Problem("events.aws_sns."+key, "", format, args...))
			return
		}
		errs = append(errs, lifecycle.Problem(variable, "events.aws_sns."+key, format, args...))
	}
	switch {
	case c.Region == "":
		add(EnvRegion, "region", "required (the AWS region of the topics, e.g. us-east-1)")
	case !regionRE.MatchString(c.Region):
		add(EnvRegion, "region", "%q is not an AWS region name such as us-east-1", lifecycle.Excerpt(c.Region))
	}
	if c.TopicARNPrefix == "" {
		add(EnvTopicARNPrefix, "topic_arn_prefix", "required (e.g. arn:aws:sns:us-east-1:123456789012:)")
	} else if err := c.checkPrefix(); err != "" {
		add(EnvTopicARNPrefix, "topic_arn_prefix", "%q %s", lifecycle.Excerpt(c.TopicARNPrefix), err)
	}
	if c.Endpoint != "" {
		if err := checkEndpoint(c.Endpoint); err != "" {
			add(EnvEndpointSNS+" or "+EnvEndpoint, "endpoint", "%s", err)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		if c.AccessKeyID == "" {
			add(EnvAccessKeyID, "access_key_id", "required when the secret access key is set")
		} else {
			add(EnvSecretAccessKey, "secret_access_key", "required when the access key id is set")
		}
	}
	if c.envKeyID != c.envSecret && c.AccessKeyID != "" && c.SecretAccessKey != "" {
		// One of the pair from the environment, the other from the YAML block: the
		// chain's environment link needs both variables, and would fail at every
		// Connect.
		if c.envKeyID {
			add(EnvAccessKeyID, "access_key_id", "set in the environment, but the secret access key comes from events.aws_sns.secret_access_key, not %s: "+
				"static keys are taken as a pair, %s with %s or access_key_id with secret_access_key; set %s too, or unset %s",
				EnvSecretAccessKey, EnvAccessKeyID, EnvSecretAccessKey, EnvSecretAccessKey, EnvAccessKeyID)
		} else {
			add(EnvSecretAccessKey, "secret_access_key", "set in the environment, but the access key id comes from events.aws_sns.access_key_id, not %s: "+
				"static keys are taken as a pair, %s with %s or access_key_id with secret_access_key; set %s too, or unset %s",
				EnvAccessKeyID, EnvAccessKeyID, EnvSecretAccessKey, EnvAccessKeyID, EnvSecretAccessKey)
		}
	}
	if c.SessionToken != "" && c.AccessKeyID == "" {
		add(EnvSessionToken, "session_token", "set without an access key id and secret access key")
	}
	if c.Timeout < 0 {
		add("", "timeout", "%s is negative", c.Timeout)
	}
	return errors.Join(errs...)
}

// checkPrefix checks the ARN prefix: arn:<partition>:sns:<region>:<account>:<name
// prefix>, its region the configured one. It returns what is wrong, or "".
func (c *Config) checkPrefix() string {
	p := strings.Split(c.TopicARNPrefix, ":")
	if len(p) != 6 || p[0] != "arn" || p[1] == "" {
		return "is not an SNS topic ARN prefix (arn:aws:sns:<region>:<account id>:)"
	}
	if p[2] != "sns" {
		return "is not an SNS ARN (the service part is not sns)"
	}
	if !accountRE.MatchString(p[4]) {
		return "has no 12-digit account id"
	}
	if c.Region != "" && p[3] != c.Region {
		return "is in region " + p[3] + ", not " + EnvRegion + " " + c.Region + " (SNS accepts a Publish only in the topic's region)"
	}
	return ""
}

// checkEndpoint checks an endpoint URL, never printing its userinfo.
func checkEndpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a URL: " + secret.URLError(err).Error()
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "is not an http:// or https:// URL: " + secret.RedactURL(raw)
	}
	if u.Host == "" {
		return "has no host: " + secret.RedactURL(raw)
	}
	if u.User != nil {
		return "may not carry a user name or password: " + secret.RedactURL(raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "may not have a query or fragment: " + secret.RedactURL(raw)
	}
	return ""
}

// Secrets returns the configured secret values.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []secret.Value{c.SecretAccessKey, c.SessionToken} {
		if s != "" {
			out = append(out, s.Reveal())
		}
	}
	return out
}

// endpoint returns the SNS endpoint URL.
func (c *Config) endpoint() string {
	if c.Endpoint != "" {
		return c.Endpoint
	}
	return "https://sns." + c.Region + "." + dnsSuffix(c.Region) + "/"
}

// dnsSuffix is the partition's domain of a region.
func dnsSuffix(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// Build makes the publisher; it does not dial.
func (c *Config) Build(d lifecycle.Deps) (lifecycle.Publisher, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return newPublisher(*c, d), nil
}
