package secret

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Value is a configuration value that must never be printed: its String, Format,
// MarshalYAML and MarshalJSON show "***" (or "" when it is empty, so that an unset
// secret is visible as such). Reveal returns the value. Decoding one (from YAML,
// JSON or text) registers it in the Default set, so Redact knows it from the moment
// the configuration is read.
type Value string

// Reveal returns the secret's value, for the one place that sends it.
func (s Value) Reveal() string { return string(s) }

// String returns "***", or "" for an empty secret.
func (s Value) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// Format makes every fmt verb (%v, %s, %q, %d, %#v …) print the redacted form.
func (s Value) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalYAML redacts the secret when a configuration is dumped.
func (s Value) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON redacts the secret when a configuration is shown as JSON.
func (s Value) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// UnmarshalText sets the value and registers it in the Default set. YAML and JSON
// decoding of a scalar go through it.
func (s *Value) UnmarshalText(b []byte) error {
	*s = Value(b)
	Register(string(b))
	return nil
}

// Resolve returns a secret given in one of three ways: literally (value), as the
// contents of a file (file; surrounding white space, such as a trailing newline, is
// trimmed), or as the name of an environment variable (env). At most one may be
// set; none gives an empty secret. A named file or variable that is missing or empty
// is an error. The errors name the file or variable, never the value. The secret is
// registered in the Default set.
func Resolve(value, file, env string) (Value, error) {
	n := 0
	for _, s := range []string{value, file, env} {
		if s != "" {
			n++
		}
	}
	var v string
	switch {
	case n > 1:
		return "", errors.New("secret given more than one way: set only one of the value, the file and the environment variable")
	case file != "":
		b, err := ReadBounded(file, MaxSecretFile)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		Register(string(b))
		if v = strings.TrimSpace(string(b)); v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
	case env != "":
		raw, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		Register(raw)
		if v = strings.TrimSpace(raw); v == "" {
			return "", fmt.Errorf("environment variable %s is empty", env)
		}
	default:
		v = value
	}
	Register(v)
	return Value(v), nil
}

// ReadFile reads a secret file (such as a password file, read again before every
// connection), trims line breaks at its end, registers the secret and returns it.
// Its errors name the file, never the content.
func ReadFile(name string) (string, error) {
	b, err := ReadBounded(name, MaxSecretFile)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	Register(v)
	return v, nil
}

// Limits of the files a configuration names, so that a wrong path (a device, a log
// file, /dev/zero) fails at once instead of filling the memory.
const (
	// MaxSecretFile bounds a token, password or key file.
	MaxSecretFile = 64 << 10
	// MaxPEMFile bounds a certificate, key or CA bundle file.
	MaxPEMFile = 4 << 20
)

// ReadBounded reads the file at path, refusing one larger than limit bytes. Its
// errors name the file, never the content.
func ReadBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a secret, certificate or key file", path, limit)
	}
	return b, nil
}
