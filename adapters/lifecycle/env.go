package lifecycle

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/edgerelay/edgerelay/adapters/internal/text"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// OSEnv is the process environment.
func OSEnv(name string) (string, bool) { return os.LookupEnv(name) }

// MapEnv is an Env over m, for tests.
func MapEnv(m map[string]string) Env {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

// Problem is a configuration error that names the variable and the YAML key.
func Problem(variable, key, format string, args ...any) error {
	where := variable
	if key != "" {
		where += " (" + key + ")"
	}
	return fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))
}

// String sets *dst to the value of variable when env has it (an empty value too:
// it clears the YAML setting).
func String(env Env, variable string, dst *string) {
	if v, ok := env(variable); ok {
		*dst = v
	}
}

// Bool sets *dst from variable when env has it and it is not empty: true/false,
// 1/0, yes/no, on/off in any case. Anything else is an error naming the variable.
func Bool(env Env, variable string, dst *bool) error {
	v, ok := env(variable)
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		*dst = true
	case "false", "0", "no", "off":
		*dst = false
	default:
		return fmt.Errorf("%s: %q is not true or false", variable, Excerpt(v))
	}
	return nil
}

// Int sets *dst from variable when env has it and it is not empty; a value that is
// not an integer is an error naming the variable.
func Int(env Env, variable string, dst *int) error {
	v, ok := env(variable)
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%s: %q is not an integer", variable, Excerpt(v))
	}
	*dst = n
	return nil
}

// List sets *dst from a comma-separated variable when env has it and it is not
// empty: the items trimmed, empty items left out.
func List(env Env, variable string, dst *[]string) {
	v, ok := env(variable)
	if !ok || strings.TrimSpace(v) == "" {
		return
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	*dst = out
}

// Excerpt bounds a configuration value quoted in an error to 64 bytes, cut at a
// character boundary and marked as the project's other excerpts are (text.Bound),
// with every known secret redacted. Never use it on a secret's variable: name the
// variable alone.
func Excerpt(v string) string { return text.Bound(secret.Redact(v), 64) }
