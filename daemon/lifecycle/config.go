package lifecycle

import (
	"errors"
	"fmt"
	"strings"
	"time"

	contract "github.com/edgerelay/edgerelay/adapters/lifecycle"
)

// The variables of the seed that every adapter shares, and edgerelay's own.
const (
	EnvEnabled      = "EVENT_BROKER_ENABLED"
	EnvAdapter      = "EVENT_BROKER_ADAPTER"
	EnvCoreName     = "CORE_NAME"
	EnvAlertRelayed = "EVENT_BROKER_ALERT_RELAYED" // edgerelay's: edge.alert.relayed on
)

// Defaults of Config.
const (
	DefaultCoreName  = "default"
	DefaultBuffer    = 1024
	DefaultStopFlush = 2 * time.Second
	MaxBuffer        = 1 << 16
	MaxStopFlush     = 30 * time.Second
)

// Config is the events: section of the configuration. The adapter's own settings
// are the block events.<adapter> (events.nats, events.aws_sns …), decoded by package
// daemon/config into Settings; the seed's variables override both (ApplyEnv).
type Config struct {
	// Enabled turns publishing on (EVENT_BROKER_ENABLED).
	Enabled bool `yaml:"enabled"`
	// Adapter is the broker: nats, kafka, amqp091 (rabbitmq), redis, mqtt, aws_sns,
	// google_pubsub (EVENT_BROKER_ADAPTER).
	Adapter string `yaml:"adapter"`
	// CoreName names the gateway in every event (CORE_NAME); default "default".
	CoreName string `yaml:"core_name"`
	// AlertRelayed publishes edge.alert.relayed for each delivered event
	// (EVENT_BROKER_ALERT_RELAYED); off by default.
	AlertRelayed bool `yaml:"alert_relayed"`
	// Buffer bounds the events waiting for the broker; when it is full the oldest is
	// dropped (edgerelay_lifecycle_dropped_total). Default 1024, at most 65536.
	Buffer int `yaml:"buffer"`
	// StopFlush bounds how long shutdown waits for edge.node.stopping (and what is
	// still buffered) to reach the broker. Default 2s, at most 30s.
	StopFlush time.Duration `yaml:"stop_flush"`

	// Spec is the adapter's registration and Settings its config (events.<adapter>
	// with the variables applied), set by package daemon/config when Enabled.
	Spec     *contract.Spec  `yaml:"-"`
	Settings contract.Config `yaml:"-"`
	// Line is the events: section's line in the file, 0 when it has none.
	Line int `yaml:"-"`
}

// Defaults returns the section's defaults.
func Defaults() Config {
	return Config{CoreName: DefaultCoreName, Buffer: DefaultBuffer, StopFlush: DefaultStopFlush}
}

// ApplyEnv overrides the shared settings with the variables env has; an error
// names the variable.
func (c *Config) ApplyEnv(env contract.Env) error {
	var errs []error
	errs = append(errs, contract.Bool(env, EnvEnabled, &c.Enabled))
	if v, ok := env(EnvAdapter); ok && strings.TrimSpace(v) != "" {
		c.Adapter = strings.ToLower(strings.TrimSpace(v))
	}
	if v, ok := env(EnvCoreName); ok && v != "" {
		c.CoreName = v
	}
	errs = append(errs, contract.Bool(env, EnvAlertRelayed, &c.AlertRelayed))
	return errors.Join(errs...)
}

// Validate checks the shared settings (the adapter's are its Settings' Validate).
func (c *Config) Validate() error {
	var errs []error
	if c.Buffer < 1 || c.Buffer > MaxBuffer {
		errs = append(errs, fmt.Errorf("events.buffer: %d is not between 1 and %d", c.Buffer, MaxBuffer))
	}
	if c.StopFlush <= 0 || c.StopFlush > MaxStopFlush {
		errs = append(errs, fmt.Errorf("events.stop_flush: %s is not above 0 and at most %s", c.StopFlush, MaxStopFlush))
	}
	if c.CoreName == "" {
		errs = append(errs, contract.Problem(EnvCoreName, "events.core_name", "must not be empty"))
	} else if len(c.CoreName) > 128 {
		errs = append(errs, contract.Problem(EnvCoreName, "events.core_name", "is longer than 128 bytes"))
	}
	if !c.Enabled {
		return errors.Join(errs...)
	}
	if c.Adapter == "" {
		errs = append(errs, contract.Problem(EnvAdapter, "events.adapter", "required when publishing is enabled: one of %s",
			strings.Join(contract.Known(), ", ")))
	} else if _, ok := contract.Lookup(c.Adapter); !ok {
		if tag, omitted := contract.Omitted(c.Adapter); omitted {
			errs = append(errs, contract.Problem(EnvAdapter, "events.adapter", "%q is not built into this binary (built with -tags %s)", c.Adapter, tag))
		} else {
			errs = append(errs, contract.Problem(EnvAdapter, "events.adapter", "%q is not one of %s", contract.Excerpt(c.Adapter),
				strings.Join(contract.Known(), ", ")))
		}
	}
	return errors.Join(errs...)
}
