package mapping

import (
	"errors"
	"fmt"
	"strings"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// Config is the event mapping of one consumer. Its fields mirror ilagent's daemon
// flags (--event_key, --map_key_*, --map_val_etype_*, --filter_key, --filter_val,
// --forward_message_payload); the zero value maps nothing and filters nothing.
type Config struct {
	// EventKey is the integration key of every event. When set it overrides the
	// payload's integrationKey/apiKey (as ilagent's --event_key does). Empty means the
	// payload's key, or "" when it has none.
	EventKey string `yaml:"event_key"`
	// MapKeyAlertKey is a dot path whose string value becomes alertKey. Empty means
	// the payload's alertKey.
	MapKeyAlertKey string `yaml:"map_key_alert_key"`
	// MapKeySummary is a dot path whose string value becomes summary. Empty means the
	// payload's summary.
	MapKeySummary string `yaml:"map_key_summary"`
	// MapKeyEtype is a dot path whose string value becomes eventType, after
	// translation through the MapValEtype* values. Empty means the payload's
	// eventType.
	MapKeyEtype string `yaml:"map_key_etype"`
	// MapKeyPriority is a dot path whose string value becomes priority (HIGH or LOW,
	// any case). Empty means the payload's priority. ilagent has no such flag.
	MapKeyPriority string `yaml:"map_key_priority"`
	// MapValEtypeAlert is the value at MapKeyEtype that means ALERT (exact,
	// case-sensitive). Empty means none.
	MapValEtypeAlert string `yaml:"map_val_etype_alert"`
	// MapValEtypeAccept is the value at MapKeyEtype that means ACCEPT. Empty means none.
	MapValEtypeAccept string `yaml:"map_val_etype_accept"`
	// MapValEtypeResolve is the value at MapKeyEtype that means RESOLVE. Empty means
	// none.
	MapValEtypeResolve string `yaml:"map_val_etype_resolve"`
	// FilterKey is a dot path that must exist in a message for it to be sent; plain
	// top-level names work as in ilagent. Empty means no filter.
	FilterKey string `yaml:"filter_key"`
	// FilterVal, when set, is the string the value at FilterKey must equal exactly; a
	// non-string value never passes. Requires FilterKey.
	FilterVal string `yaml:"filter_val"`
	// ForwardMessagePayload sends the whole original payload as customDetails when
	// the payload has no customDetails of its own. False means the default
	// customDetails: {"topic":…} for MQTT, {"messageKey":…,"topic":…} for Kafka.
	ForwardMessagePayload bool `yaml:"forward_message_payload"`
}

// Validate reports every problem at once. ilagent accepts these combinations and
// silently ignores the flags; edgerelay rejects them because they can only be mistakes.
func (c *Config) Validate() error {
	secret.Register(c.EventKey) // an integration key: redacted wherever text leaves the daemon
	var errs []error
	for _, p := range []struct{ name, val string }{
		{"map_key_alert_key", c.MapKeyAlertKey},
		{"map_key_summary", c.MapKeySummary},
		{"map_key_etype", c.MapKeyEtype},
		{"map_key_priority", c.MapKeyPriority},
		{"filter_key", c.FilterKey},
	} {
		if p.val != "" && strings.TrimSpace(p.val) != p.val {
			errs = append(errs, fmt.Errorf("%s: %q has leading or trailing spaces", p.name, p.val))
		}
	}
	if err := pathSegment(c.EventKey); c.EventKey != "" && err != nil {
		errs = append(errs, fmt.Errorf("event_key: the key %w", err))
	}
	if c.FilterVal != "" && c.FilterKey == "" {
		errs = append(errs, errors.New("filter_val: has no effect without filter_key"))
	}
	vals := []struct{ name, val string }{
		{"map_val_etype_alert", c.MapValEtypeAlert},
		{"map_val_etype_accept", c.MapValEtypeAccept},
		{"map_val_etype_resolve", c.MapValEtypeResolve},
	}
	seen := map[string]string{}
	for _, v := range vals {
		if v.val == "" {
			continue
		}
		if c.MapKeyEtype == "" {
			errs = append(errs, fmt.Errorf("%s: has no effect without map_key_etype", v.name))
		}
		if other, ok := seen[v.val]; ok {
			errs = append(errs, fmt.Errorf("%s: value %q is also %s", v.name, v.val, other))
		}
		seen[v.val] = v.name
	}
	return errors.Join(errs...)
}
