package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
)

// The environment variables of the seed, exactly.
const (
	VarURLs          = "EVENT_BROKER_KAFKA_URLS"
	VarUsername      = "EVENT_BROKER_KAFKA_USERNAME"
	VarPassword      = "EVENT_BROKER_KAFKA_PASSWORD"
	VarSASLMechanism = "EVENT_BROKER_KAFKA_SASL_MECHANISM"
	VarSSL           = "EVENT_BROKER_KAFKA_SSL"
)

// The values of sasl_mechanism.
const (
	MechanismPlain       = "plain"
	MechanismSCRAMSHA256 = "scram_sha_256"
	MechanismSCRAMSHA512 = "scram_sha_512"
)

// DefaultTimeout bounds one dial, one request and the brokers' wait for the
// in-sync replicas.
const DefaultTimeout = 10 * time.Second

// key returns the YAML key of the events.kafka block named k.
func key(k string) string { return "events.kafka." + k }

// Config is the events.kafka block. NewConfig sets the defaults, the daemon decodes
// the YAML over it strictly, ApplyEnv lets the variables win, Validate checks it.
type Config struct {
	// URLs are the bootstrap brokers, host:port without a scheme. At least one is
	// required. EVENT_BROKER_KAFKA_URLS (comma-separated).
	URLs []string `yaml:"urls"`
	// Username turns SASL on. Empty means no SASL. EVENT_BROKER_KAFKA_USERNAME.
	Username string `yaml:"username"`
	// Password goes with Username; it is never logged. EVENT_BROKER_KAFKA_PASSWORD.
	Password secret.Value `yaml:"password"`
	// PasswordEnv names an environment variable holding the password, instead of
	// password. EVENT_BROKER_KAFKA_PASSWORD wins over it.
	PasswordEnv string `yaml:"password_env"`
	// PasswordFile names a file holding the password, instead of password.
	// EVENT_BROKER_KAFKA_PASSWORD wins over it.
	PasswordFile string `yaml:"password_file"`
	// SASLMechanism is plain (the default, also when empty), scram_sha_256 or
	// scram_sha_512. EVENT_BROKER_KAFKA_SASL_MECHANISM.
	SASLMechanism string `yaml:"sasl_mechanism"`
	// SSL turns TLS on, verified against the system roots and CAFile.
	// EVENT_BROKER_KAFKA_SSL.
	SSL bool `yaml:"ssl"`
	// CAFile is a PEM bundle of CAs to trust in addition to the system roots; it
	// needs ssl. Empty means the system roots alone. YAML only.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one dial, one request and the brokers' wait for the in-sync
	// replicas. Zero means 10s. YAML only.
	Timeout time.Duration `yaml:"timeout"`

	envPassword bool // EVENT_BROKER_KAFKA_PASSWORD was set: password_env/_file are ignored
}

// NewConfig returns a Config with the defaults set.
func NewConfig() *Config {
	return &Config{SASLMechanism: MechanismPlain, Timeout: DefaultTimeout}
}

var _ lifecycle.Config = (*Config)(nil)

// ApplyEnv lets the seed's variables override the YAML settings.
func (c *Config) ApplyEnv(env lifecycle.Env) error {
	lifecycle.List(env, VarURLs, &c.URLs)
	lifecycle.String(env, VarUsername, &c.Username)
	if v, ok := env(VarPassword); ok {
		secret.Register(v)
		c.Password = secret.Value(v)
		c.envPassword = true
	}
	lifecycle.String(env, VarSASLMechanism, &c.SASLMechanism)
	return lifecycle.Bool(env, VarSSL, &c.SSL)
}

// password returns the password from password, password_env or password_file.
func (c *Config) password() (string, error) {
	if c.envPassword || (c.PasswordEnv == "" && c.PasswordFile == "") {
		return c.Password.Reveal(), nil
	}
	v, err := secret.Resolve(c.Password.Reveal(), c.PasswordFile, c.PasswordEnv)
	if err != nil {
		return "", c.passwordProblem(err)
	}
	return v.Reveal(), nil
}

// passwordProblem names the setting that err is about: password_file or
// password_env (YAML only), or all of password, password_env and password_file
// when more than one of them is set.
func (c *Config) passwordProblem(err error) error {
	var set []string
	for _, k := range []struct{ name, v string }{
		{"password", c.Password.Reveal()}, {"password_env", c.PasswordEnv}, {"password_file", c.PasswordFile},
	} {
		if k.v != "" {
			set = append(set, key(k.name))
		}
	}
	if len(set) == 1 {
		return lifecycle.Problem(set[0], "", "%v", err)
	}
	return lifecycle.Problem(strings.Join(set, ", "), "", "%v", err)
}

// mechanism returns sasl_mechanism normalised: lower case, '-' as '_', empty as
// plain.
func (c *Config) mechanism() string {
	m := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(c.SASLMechanism)), "-", "_")
	if m == "" {
		return MechanismPlain
	}
	return m
}

// Validate reports every setting that cannot work, each naming its variable and
// YAML key. It reads password_file and ca_file, as Connect will.
func (c *Config) Validate() error {
	var errs []error
	add := func(variable, k, format string, args ...any) {
		errs = append(errs, lifecycle.Problem(variable, k, format, args...))
	}
	if len(c.URLs) == 0 {
		add(VarURLs, key("urls"), "at least one broker host:port is required")
	}
	for _, u := range c.URLs {
		if err := checkHostPort(u); err != nil {
			add(VarURLs, key("urls"), "%v", err)
		}
	}
	pw, err := c.password()
	switch {
	case err != nil:
		errs = append(errs, err) // names password_env or password_file
	case c.Username == "" && pw != "":
		add(VarPassword, key("password"), "set without %s: SASL needs a user name", VarUsername)
	case c.Username != "" && pw == "":
		add(VarPassword, key("password"), "required when %s is set", VarUsername)
	}
	switch m := c.mechanism(); m {
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
	default:
		add(VarSASLMechanism, key("sasl_mechanism"), "%q is not %s, %s or %s",
			lifecycle.Excerpt(c.SASLMechanism), MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512)
	}
	if c.CAFile != "" {
		if !c.SSL {
			add(VarSSL, key("ca_file"), "ca_file is set but SSL is off; set %s=true", VarSSL)
		} else if _, err := c.caPool(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Timeout < 0 || c.Timeout > 5*time.Minute {
		errs = append(errs, lifecycle.Problem(key("timeout"), "", "%s is outside 0..5m", c.Timeout))
	}
	return errors.Join(errs...)
}

// checkHostPort checks one broker address: host:port, no scheme, no userinfo.
func checkHostPort(s string) error {
	shown := lifecycle.Excerpt(s)
	if i := strings.LastIndex(s, "@"); i >= 0 {
		// A user name and password given URL-style: never shown.
		shown = lifecycle.Excerpt("***@" + s[i+1:])
		if !strings.Contains(s, "://") {
			return fmt.Errorf("%q holds credentials: give host:port, and the user and password in %s and %s",
				shown, VarUsername, VarPassword)
		}
	}
	if strings.Contains(s, "://") {
		return fmt.Errorf("%q has a scheme: give host:port (use %s=true for TLS)", shown, VarSSL)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", shown)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", shown)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 1..65535", shown, port)
	}
	return nil
}

// Secrets returns the password, for the daemon to redact.
func (c *Config) Secrets() []string {
	pw, _ := c.password()
	if pw == "" {
		return nil
	}
	return []string{pw}
}

// caPool reads ca_file.
func (c *Config) caPool() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile == "" {
		return tc, nil
	}
	pem, err := tlsfiles.Read("ca_file", c.CAFile)
	if err == nil {
		base, sysErr := x509.SystemCertPool()
		if sysErr != nil {
			base = nil // no system roots here: the file's alone
		}
		tc.RootCAs, err = tlsfiles.CertPool("ca_file", c.CAFile, pem, base)
	}
	if err != nil {
		return nil, lifecycle.Problem(key("ca_file"), "", "%v", err)
	}
	return tc, nil
}

// Build makes the publisher; it does not dial.
func (c *Config) Build(d lifecycle.Deps) (lifecycle.Publisher, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	pw, _ := c.password()
	if pw != "" {
		secret.RegisterUserPassword(c.Username, pw)
	}
	cfg := *c
	cfg.Password = secret.Value(pw)
	cfg.SASLMechanism = c.mechanism()
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return newPublisher(cfg, d.Version, log), nil
}
