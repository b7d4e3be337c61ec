package alerta

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// MaxEnvPatterns and MaxEnvPattern bound an environment policy.
const (
	MaxEnvPatterns = 64
	MaxEnvPattern  = 256
)

// EnvPolicy is Alerta's reject plugin's environment rule (ALLOWED_ENVIRONMENTS,
// §5.1): an alert's environment must fully match one of the patterns. The patterns
// are compiled once; they are Go (RE2) regular expressions, which agree with
// Python's for the plain names and alternations such policies use. A nil or empty
// policy allows every environment (Alerta's empty list would refuse them all; a
// receiver without the setting has no policy).
type EnvPolicy struct {
	patterns []string
	res      []*regexp.Regexp
}

// NewEnvPolicy compiles the allowed environments. A pattern that does not compile,
// is longer than MaxEnvPattern, or more than MaxEnvPatterns patterns, is an error
// naming the pattern's place.
func NewEnvPolicy(allowed []string) (*EnvPolicy, error) {
	if len(allowed) > MaxEnvPatterns {
		return nil, fmt.Errorf("at most %d allowed environments", MaxEnvPatterns)
	}
	p := &EnvPolicy{patterns: append([]string(nil), allowed...)}
	for i, s := range allowed {
		if len(s) > MaxEnvPattern {
			return nil, fmt.Errorf("allowed environment %d: longer than %d bytes", i+1, MaxEnvPattern)
		}
		re, err := regexp.Compile(`^(?:` + s + `)$`)
		if err != nil {
			return nil, fmt.Errorf("allowed environment %d: %w", i+1, err)
		}
		p.res = append(p.res, re)
	}
	return p, nil
}

// Patterns returns the policy's patterns as given.
func (p *EnvPolicy) Patterns() []string {
	if p == nil {
		return nil
	}
	return append([]string(nil), p.patterns...)
}

// Check returns nil when env is allowed and otherwise Alerta's 403 "[POLICY] Alert
// environment does not match one of Production, Development".
func (p *EnvPolicy) Check(env string) *Error {
	if p == nil || len(p.res) == 0 {
		return nil
	}
	for _, re := range p.res {
		if re.MatchString(env) {
			return nil
		}
	}
	return &Error{Code: 403, Message: "[POLICY] Alert environment does not match one of " + strings.Join(p.patterns, ", ")}
}

// envCache keeps the policies CheckEnvironment compiled, so that a list is compiled
// once; it holds at most envCacheMax lists (a process has one or two). The mutex
// guards m.
var envCache = struct {
	sync.Mutex
	m map[string]*EnvPolicy
}{m: map[string]*EnvPolicy{}}

const envCacheMax = 16

// CheckEnvironment is EnvPolicy.Check for a list given as it is configured: the list
// is compiled once and remembered. A list with a pattern that does not compile
// matches each pattern as a plain string (config validation reports it through
// NewEnvPolicy).
func CheckEnvironment(env string, allowed []string) *Error {
	if len(allowed) == 0 {
		return nil
	}
	key := strings.Join(allowed, "\x00")
	envCache.Lock()
	p, ok := envCache.m[key]
	envCache.Unlock()
	var err error
	if !ok {
		p, err = NewEnvPolicy(allowed)
		if err == nil {
			envCache.Lock()
			if len(envCache.m) >= envCacheMax {
				clear(envCache.m)
			}
			envCache.m[key] = p
			envCache.Unlock()
		}
	}
	if err != nil {
		for _, s := range allowed {
			if s == env {
				return nil
			}
		}
		return &Error{Code: 403, Message: "[POLICY] Alert environment does not match one of " + strings.Join(allowed, ", ")}
	}
	return p.Check(env)
}
