package mqtt

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/lifecycle"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// The seed's variables.
const (
	EnvURL            = "EVENT_BROKER_MQTT_URL"
	EnvQoS            = "EVENT_BROKER_MQTT_QOS"
	EnvJWT            = "EVENT_BROKER_MQTT_JWT"
	EnvUsername       = "EVENT_BROKER_MQTT_USERNAME"
	EnvPassword       = "EVENT_BROKER_MQTT_PASSWORD"
	EnvSSL            = "EVENT_BROKER_MQTT_SSL"
	EnvCACertFile     = "EVENT_BROKER_MQTT_CACERT_FILE"
	EnvClientCertFile = "EVENT_BROKER_MQTT_CLIENT_CERT_FILE"
	EnvClientKeyFile  = "EVENT_BROKER_MQTT_CLIENT_KEY_FILE"
)

// Defaults.
const (
	DefaultQoS     = 1
	DefaultTimeout = 10 * time.Second
	// KeepAlive is the CONNECT keep-alive; a PINGREQ goes out at half of it.
	KeepAlive = 30 * time.Second
	// minTimeout is the shortest timeout accepted: less than a round trip fails
	// every publish.
	minTimeout = 100 * time.Millisecond
	// maxTimeout is the longest timeout accepted: a Connect or a publish's wait
	// bounded by more is not bounded in any useful way.
	maxTimeout = time.Minute
)

// Config configures the mqtt lifecycle publisher (YAML events.mqtt). The README
// documents every key.
type Config struct {
	// URL is the broker as host:port, without a scheme (TLS is SSL). Required.
	URL string `yaml:"url"`
	// QoS of every publish: 0, 1 or 2. Default 1.
	QoS int `yaml:"qos"`
	// JWT is sent as the CONNECT password; it takes precedence over Password.
	JWT secret.Value `yaml:"jwt"`
	// JWTFile names a file holding the JWT, read before every connection.
	JWTFile string `yaml:"jwt_file"`
	// Username is sent in CONNECT. Empty with a JWT means a zero-length user name.
	Username string `yaml:"username"`
	// Password is sent with Username when no JWT is set.
	Password secret.Value `yaml:"password"`
	// PasswordFile names a file holding the password, read before every connection.
	PasswordFile string `yaml:"password_file"`
	// SSL turns TLS on (system roots unless CACertFile is set).
	SSL bool `yaml:"ssl"`
	// CACertFile is a PEM bundle that replaces the system roots. Needs SSL.
	CACertFile string `yaml:"cacert_file"`
	// ClientCertFile and ClientKeyFile are the mTLS pair. Both or neither; need SSL.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// ClientID is the MQTT client id. Empty means edgerelay-events-<6 random hex>.
	ClientID string `yaml:"client_id"`
	// Timeout bounds one Connect (dial, TLS, CONNACK) and the wait for one publish's
	// acknowledgement, within the caller's context. Zero means 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// NewConfig returns a Config with the defaults set.
func NewConfig() *Config { return &Config{QoS: DefaultQoS, Timeout: DefaultTimeout} }

// Variables are the environment variables ApplyEnv reads.
var Variables = []string{EnvURL, EnvQoS, EnvJWT, EnvUsername, EnvPassword, EnvSSL,
	EnvCACertFile, EnvClientCertFile, EnvClientKeyFile}

// ApplyEnv overrides settings with the seed's variables. A JWT or password from
// the environment replaces a jwt_file or password_file from YAML.
func (c *Config) ApplyEnv(env lifecycle.Env) error {
	var errs []error
	lifecycle.String(env, EnvURL, &c.URL)
	errs = append(errs, lifecycle.Int(env, EnvQoS, &c.QoS))
	if v, ok := env(EnvJWT); ok {
		c.JWT, c.JWTFile = secret.Value(v), ""
		secret.Register(v)
	}
	lifecycle.String(env, EnvUsername, &c.Username)
	if v, ok := env(EnvPassword); ok {
		c.Password, c.PasswordFile = secret.Value(v), ""
		secret.RegisterUserPassword(c.Username, v)
	}
	errs = append(errs, lifecycle.Bool(env, EnvSSL, &c.SSL))
	lifecycle.String(env, EnvCACertFile, &c.CACertFile)
	lifecycle.String(env, EnvClientCertFile, &c.ClientCertFile)
	lifecycle.String(env, EnvClientKeyFile, &c.ClientKeyFile)
	return errors.Join(errs...)
}

// Validate reports every setting that cannot work, each naming its variable and
// YAML key. It checks that each configured file (JWT, password, CA, client
// certificate and key) can be opened, so a missing one stops the start instead of
// failing every Connect; Connect still reads them before every attempt, so a
// rotated file is picked up.
func (c *Config) Validate() error {
	var errs []error
	add := func(variable, key, format string, args ...any) {
		errs = append(errs, lifecycle.Problem(variable, "events.mqtt."+key, format, args...))
	}
	if _, err := splitAddr(c.URL); err != nil {
		add(EnvURL, "url", "%v", err)
	}
	if c.QoS < 0 || c.QoS > 2 {
		add(EnvQoS, "qos", "%d is not 0, 1 or 2", c.QoS)
	}
	if c.JWT != "" && c.JWTFile != "" {
		add(EnvJWT, "jwt_file", "set the JWT one way only (jwt or jwt_file)")
	}
	if c.Password != "" && c.PasswordFile != "" {
		add(EnvPassword, "password_file", "set the password one way only (password or password_file)")
	}
	hasJWT := c.JWT != "" || c.JWTFile != ""
	if !hasJWT && c.Username == "" && (c.Password != "" || c.PasswordFile != "") {
		add(EnvUsername, "username", "a password needs a user name (MQTT 3.1.1 sends no password without one)")
	}
	if !c.SSL {
		for _, f := range []struct{ variable, key, v string }{
			{EnvCACertFile, "cacert_file", c.CACertFile},
			{EnvClientCertFile, "client_cert_file", c.ClientCertFile},
			{EnvClientKeyFile, "client_key_file", c.ClientKeyFile},
		} {
			if f.v != "" {
				add(f.variable, f.key, "requires %s=true (events.mqtt.ssl)", EnvSSL)
			}
		}
	}
	if c.ClientCertFile != "" && c.ClientKeyFile == "" {
		add(EnvClientKeyFile, "client_key_file", "required with %s", EnvClientCertFile)
	}
	if c.ClientKeyFile != "" && c.ClientCertFile == "" {
		add(EnvClientCertFile, "client_cert_file", "required with %s", EnvClientKeyFile)
	}
	for _, f := range []struct{ variable, key, v string }{
		{"", "jwt_file", c.JWTFile},
		{"", "password_file", c.PasswordFile},
		{EnvCACertFile, "cacert_file", c.CACertFile},
		{EnvClientCertFile, "client_cert_file", c.ClientCertFile},
		{EnvClientKeyFile, "client_key_file", c.ClientKeyFile},
	} {
		if f.v == "" || (f.variable != "" && !c.SSL) { // the TLS files without ssl: reported above
			continue
		}
		if err := checkReadable(f.v); err != nil {
			if f.variable == "" { // YAML only
				errs = append(errs, lifecycle.Problem("events.mqtt."+f.key, "", "%v", err))
			} else {
				add(f.variable, f.key, "%v", err)
			}
		}
	}
	if len(c.ClientID) > 65535 {
		errs = append(errs, errors.New("events.mqtt.client_id: longer than 65535 bytes"))
	}
	switch {
	case c.Timeout < 0 || (c.Timeout > 0 && c.Timeout < minTimeout):
		errs = append(errs, lifecycle.Problem("events.mqtt.timeout", "", "%s is below %s", c.Timeout, minTimeout))
	case c.Timeout > maxTimeout:
		errs = append(errs, lifecycle.Problem("events.mqtt.timeout", "", "%s is over %s", c.Timeout, maxTimeout))
	}
	return errors.Join(errs...)
}

// Secrets returns the JWT and the password set literally (files are registered as
// they are read).
func (c *Config) Secrets() []string {
	var out []string
	for _, v := range []secret.Value{c.JWT, c.Password} {
		if v != "" {
			out = append(out, v.Reveal())
		}
	}
	return out
}

// Build makes the publisher; it does not dial.
func (c *Config) Build(d lifecycle.Deps) (lifecycle.Publisher, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return newPublisher(*c, d), nil
}

// checkReadable opens path and closes it again: it exists, is not a directory and
// may be read. The error names the path (never the content).
func checkReadable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", path)
	}
	return nil
}

// splitAddr checks a host:port without a scheme.
func splitAddr(v string) (string, error) {
	if strings.TrimSpace(v) == "" {
		return "", errors.New("required: the broker as host:port")
	}
	if strings.Contains(v, "@") { // userinfo may hold a password: never quoted
		return "", errors.New("want host:port without credentials (the login is " +
			EnvUsername + "/" + EnvPassword + " or " + EnvJWT + ")")
	}
	if strings.Contains(v, "://") {
		return "", errors.New("want host:port without a scheme (TLS is " + EnvSSL + "=true), got " +
			strconv.Quote(lifecycle.Excerpt(v)))
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", errors.New("want host:port, got " + strconv.Quote(lifecycle.Excerpt(v)))
	}
	if host == "" {
		return "", errors.New("host missing in " + strconv.Quote(lifecycle.Excerpt(v)))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", errors.New("port " + strconv.Quote(lifecycle.Excerpt(port)) + " is not 1..65535")
	}
	return host, nil
}

// MQTTAddress is the broker's host:port (lifecycle.MQTTTarget): the daemon refuses
// a source that would read these events back.
func (c *Config) MQTTAddress() string { return c.URL }
