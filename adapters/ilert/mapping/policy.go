package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/edgerelay/edgerelay/adapters/ilert"
)

// PolicyConfig is the escalation-policy mapping of one consumer. Its fields mirror
// ilagent's --policy_routing_keys, --map_key_email, --map_key_shift and
// --shift_offset; the consumer's Config supplies filter_key and filter_val.
type PolicyConfig struct {
	// RoutingKeys names the fields whose string values, concatenated in this order
	// with no separator, form the routing key of the policy to update. A name is
	// looked up as a top-level field first (as ilagent does), then as a dot path;
	// missing, empty and non-string values are left out. Names are trimmed. Required.
	RoutingKeys []string `yaml:"policy_routing_keys"`
	// MapKeyEmail is the dot path of the user's e-mail address. Empty means
	// "data.email".
	MapKeyEmail string `yaml:"map_key_email"`
	// MapKeyShift is the dot path of the shift (the escalation level, 0-based after
	// shift_offset): an integer or a string holding one. Empty means "data.shift".
	MapKeyShift string `yaml:"map_key_shift"`
	// ShiftOffset is added to the shift (-1 turns 1-based levels into 0-based ones);
	// the result is clamped at 0. Zero means no offset.
	ShiftOffset int64 `yaml:"shift_offset"`
}

// Defaults of PolicyConfig, ilagent's.
const (
	DefaultMapKeyEmail = "data.email"
	DefaultMapKeyShift = "data.shift"
)

// DefaultPolicyConfig returns a PolicyConfig with the default paths and no routing keys.
func DefaultPolicyConfig() PolicyConfig {
	return PolicyConfig{MapKeyEmail: DefaultMapKeyEmail, MapKeyShift: DefaultMapKeyShift}
}

// Validate reports every problem at once, each naming its YAML key. Unlike ilagent,
// which accepts a policy topic without routing keys and then drops every message,
// it requires policy_routing_keys.
func (p *PolicyConfig) Validate() error {
	var errs []error
	if len(p.RoutingKeys) == 0 {
		errs = append(errs, errors.New("policy_routing_keys: at least one field name is required"))
	}
	for i, k := range p.RoutingKeys {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("policy_routing_keys[%d]: empty field name", i))
		}
	}
	for _, f := range []struct{ name, val string }{
		{"map_key_email", p.MapKeyEmail},
		{"map_key_shift", p.MapKeyShift},
	} {
		if f.val != "" && strings.TrimSpace(f.val) != f.val {
			errs = append(errs, fmt.Errorf("%s: %q has leading or trailing spaces", f.name, f.val))
		}
	}
	return errors.Join(errs...)
}

// MapPolicy maps a policy message (spec §8 steps 1–5) to the update the ilert sink
// applies; the caller publishes upd.Encode() as an event of kind
// [adapters.KindPolicy] with Key upd.RoutingKey. skip is true, with the reason, when
// the message is dropped on purpose: not a JSON object, filtered out by c.FilterKey
// and c.FilterVal (the rules Map applies), no e-mail, or no routing key. Only the
// filter settings of c are used.
func MapPolicy(c Config, p PolicyConfig, payload []byte) (upd ilert.PolicyUpdate, skip bool, reason string) {
	if !utf8.Valid(payload) {
		return upd, true, "payload is not valid UTF-8"
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		return upd, true, fmt.Sprintf("payload is not a JSON object: %v", err)
	}
	if obj == nil {
		return upd, true, "payload is not a JSON object: null"
	}
	if r, out := filteredOut(c, payload, obj); out {
		return upd, true, r
	}

	emailPath := p.MapKeyEmail
	if emailPath == "" {
		emailPath = DefaultMapKeyEmail
	}
	if v := lookup(payload, obj, emailPath); v.Type == gjson.String && v.Str != "" {
		upd.Email = v.Str
	} else {
		return upd, true, fmt.Sprintf("Policy message missing email at '%s'", emailPath)
	}

	shiftPath := p.MapKeyShift
	if shiftPath == "" {
		shiftPath = DefaultMapKeyShift
	}
	upd.Shift = max(0, addSat(rawShift(lookup(payload, obj, shiftPath)), p.ShiftOffset))

	var key strings.Builder
	for _, name := range p.RoutingKeys {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		var v gjson.Result
		if raw, ok := obj[name]; ok {
			v = gjson.ParseBytes(raw)
		} else {
			v = gjson.GetBytes(payload, name)
		}
		if v.Type == gjson.String {
			key.WriteString(v.Str)
		}
	}
	if key.Len() == 0 {
		return upd, true, "No routing key could be extracted"
	}
	upd.RoutingKey = key.String()
	return upd, false, ""
}

// filteredOut applies filter_key and filter_val as Map does: the value must exist,
// and with filter_val it must be that exact string.
func filteredOut(c Config, payload []byte, obj map[string]json.RawMessage) (string, bool) {
	if c.FilterKey == "" {
		return "", false
	}
	v := lookup(payload, obj, c.FilterKey)
	switch {
	case !v.Exists():
		return fmt.Sprintf("filter_key %q not in payload", c.FilterKey), true
	case c.FilterVal != "" && v.Type != gjson.String:
		return fmt.Sprintf("filter_key %q is not a string", c.FilterKey), true
	case c.FilterVal != "" && v.Str != c.FilterVal:
		return fmt.Sprintf("filter_key %q is %q, not %q", c.FilterKey, v.Str, c.FilterVal), true
	}
	return "", false
}

// rawShift reads a shift as ilagent does: a string parsed as an int64, a JSON
// integer; anything else (unparsable, a float, missing) is 0.
func rawShift(v gjson.Result) int64 {
	var s string
	switch v.Type {
	case gjson.String:
		s = v.Str
	case gjson.Number:
		s = v.Raw
	default:
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// addSat returns a+b, saturated at the int64 bounds.
func addSat(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

// filteredPayload reports whether filter_key/filter_val reject a JSON object payload.
// A payload that is not a JSON object is not filtered: it is invalid.
func filteredPayload(c Config, payload []byte) (string, bool) {
	if c.FilterKey == "" {
		return "", false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(payload, &obj) != nil || obj == nil {
		return "", false
	}
	return filteredOut(c, payload, obj)
}
