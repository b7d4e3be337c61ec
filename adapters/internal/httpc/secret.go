package httpc

import (
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Redacted is what a Secret, a redacted URL password and a scrubbed error show in
// place of the secret.
const Redacted = secret.Redacted

// Secret is a configuration value that must never be printed ([secret.Value]):
// "***" in every format, registered for redaction when it is decoded.
type Secret = secret.Value

// ResolveSecret returns a secret given literally, in a file or in an environment
// variable, and registers it for redaction ([secret.Resolve]).
func ResolveSecret(value, file, env string) (Secret, error) {
	return secret.Resolve(value, file, env)
}

// RedactURL returns raw with any userinfo removed ([secret.RedactURL]).
func RedactURL(raw string) string { return secret.RedactURL(raw) }

// Scrub returns err with its text redacted: every registered secret and every one
// of secrets ([secret.Scrub]). errors.Is and errors.As still see the original chain
// (so [adapters.IsPermanent] and [adapters.RetryDelay] keep working); only the text
// changes. Scrub(nil, …) is nil.
func Scrub(err error, secrets ...string) error { return secret.Scrub(err, secrets...) }
