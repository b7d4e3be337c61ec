package script

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Config configures the script sink. The README documents every key.
type Config struct {
	// Command is the path of the executable run for each event, without a shell and
	// without a PATH lookup. Required; it must be a regular file with an execute bit.
	Command string `yaml:"command" check:"executable"`
	// Args are passed to Command after its own name. Default none.
	Args []string `yaml:"args"`
	// Env adds variables to the process's environment (NAME → value), replacing a
	// variable of the daemon's environment with the same name. Every value is treated
	// as a secret: it is redacted from every log line and error.
	Env map[string]string `yaml:"env"`
	// Timeout bounds one run. When it passes the process group gets SIGTERM, then
	// SIGKILL after KillGrace, and the delivery is retried. Zero means 30s.
	Timeout time.Duration `yaml:"timeout"`
	// KillGrace is how long a process group has between SIGTERM and SIGKILL, after a
	// timeout or at shutdown. Zero means 2s.
	KillGrace time.Duration `yaml:"kill_grace"`
	// MaxOutputBytes bounds how much of stdout and of stderr (each) is kept for the
	// log; the rest is read, counted and discarded. Zero means 4096.
	MaxOutputBytes int `yaml:"max_output_bytes"`
	// PermanentExitCodes are the exit statuses that mean "never retry this event":
	// it is dead-lettered at once. Default [65] (EX_DATAERR of sysexits.h).
	PermanentExitCodes []int `yaml:"permanent_exit_codes"`
	// MaxInFlight bounds how many runs may be in progress at once. Zero means 1.
	MaxInFlight int `yaml:"max_in_flight"`
}

// Defaults applied to zero Config fields, and the bounds Validate enforces.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultKillGrace      = 2 * time.Second
	DefaultMaxOutputBytes = 4096
	DefaultMaxInFlight    = 1
	// ExitDataErr is EX_DATAERR: the default permanent exit status.
	ExitDataErr = 65

	maxMaxOutputBytes = 1 << 20
	maxMaxInFlight    = 64
	maxKillGrace      = time.Minute
)

// EnvPrefix is the prefix of the variables the sink sets itself (see README); `env`
// may not use it.
const EnvPrefix = "EDGERELAY_"

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Timeout:            DefaultTimeout,
		KillGrace:          DefaultKillGrace,
		MaxOutputBytes:     DefaultMaxOutputBytes,
		PermanentExitCodes: []int{ExitDataErr},
		MaxInFlight:        DefaultMaxInFlight,
	}
}

// withDefaults fills zero fields, so that a Config built in code behaves like one
// decoded over DefaultConfig. A nil PermanentExitCodes takes the default; an empty,
// non-nil one means no exit status is permanent.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.KillGrace == 0 {
		c.KillGrace = d.KillGrace
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = d.MaxOutputBytes
	}
	if c.PermanentExitCodes == nil {
		c.PermanentExitCodes = d.PermanentExitCodes
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	return c
}

// Validate reports every problem at once, each naming its YAML key, and registers
// every env value as a secret. It reads no file: New checks that command is an
// executable regular file (CheckExecutable), and the configuration loader checks a
// key tagged check:"executable" the same way with the key's line, so that `edgerelay
// config check` and the daemon's start report a missing or non-executable script.
func (c *Config) Validate() error {
	var errs []error
	if c.Command == "" {
		errs = append(errs, errors.New("command: required (the path of an executable)"))
	}
	for i, a := range c.Args {
		if strings.IndexByte(a, 0) >= 0 {
			errs = append(errs, fmt.Errorf("args[%d]: must not contain a NUL byte", i))
		}
	}
	names := make([]string, 0, len(c.Env))
	for name := range c.Env {
		names = append(names, name)
	}
	slices.Sort(names) // one order for the messages
	for _, name := range names {
		v := c.Env[name]
		secret.Register(v)
		switch {
		case !ValidEnvName(name):
			errs = append(errs, fmt.Errorf("env: %q is not a valid variable name (letters, digits and _, not starting with a digit)", name))
		case strings.HasPrefix(name, EnvPrefix):
			errs = append(errs, fmt.Errorf("env: %s: names starting with %s are set by the sink", name, EnvPrefix))
		case strings.IndexByte(v, 0) >= 0:
			errs = append(errs, fmt.Errorf("env: value of %s must not contain a NUL byte", name))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	if c.KillGrace < 0 || c.KillGrace > maxKillGrace {
		errs = append(errs, fmt.Errorf("kill_grace: must be between 0 and %s, got %s", maxKillGrace, c.KillGrace))
	}
	if c.MaxOutputBytes < 0 || c.MaxOutputBytes > maxMaxOutputBytes {
		errs = append(errs, fmt.Errorf("max_output_bytes: must be between 1 and %d, got %d", maxMaxOutputBytes, c.MaxOutputBytes))
	}
	for i, code := range c.PermanentExitCodes {
		if code < 1 || code > 255 {
			errs = append(errs, fmt.Errorf("permanent_exit_codes[%d]: an exit status is 1 to 255, got %d", i, code))
		}
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > maxMaxInFlight {
		errs = append(errs, fmt.Errorf("max_in_flight: must be between 1 and %d, got %d", maxMaxInFlight, c.MaxInFlight))
	}
	if err := supported(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidEnvName reports whether name is a portable environment variable name: ASCII
// letters, digits and underscores, not starting with a digit.
func ValidEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
