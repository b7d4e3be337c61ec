package httpc

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// Redacted is what a Secret, a redacted URL password and a scrubbed error show in
// place of the secret.
const Redacted = "***"

// Secret is a configuration value that must never be printed: its String, Format,
// MarshalYAML and MarshalJSON show "***" (or "" when it is empty, so that an unset
// secret is visible as such). Reveal returns the value.
type Secret string

// Reveal returns the secret's value, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// String returns "***", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// Format makes every fmt verb (%v, %s, %q, %d, %#v …) print the redacted form.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalYAML redacts the secret when a configuration is dumped.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON redacts the secret when a configuration is shown as JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// ResolveSecret returns a secret given in one of three ways: literally (value), as
// the contents of a file (file; surrounding white space, such as a trailing newline,
// is trimmed), or as the name of an environment variable (env). At most one may be
// set; none gives an empty secret. A named file or variable that is missing or empty
// is an error. The errors name the file or variable, never the value.
func ResolveSecret(value, file, env string) (Secret, error) {
	n := 0
	for _, s := range []string{value, file, env} {
		if s != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return "", errors.New("secret given more than one way: set only one of the value, the file and the environment variable")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return Secret(v), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		if v = strings.TrimSpace(v); v == "" {
			return "", fmt.Errorf("environment variable %s is empty", env)
		}
		return Secret(v), nil
	}
	return Secret(value), nil
}

// RedactURL returns raw with any userinfo (user name and password) removed. A value
// that does not parse as a URL is returned as "<unparsable url>" because it may hold
// a secret in a place the parser did not recognise.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable url>"
	}
	if u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// Scrub returns err with every non-empty secret in its message replaced by "***".
// errors.Is and errors.As still see the original chain (so [adapters.IsPermanent] and
// [adapters.RetryDelay] keep working); only the text changes. Scrub(nil, …) is nil.
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, Redacted)
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
