package mapping

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/ilert"
)

// samplePolicy is the payload of scenarios 63 and 76.
const samplePolicy = `{"location":"powerplant","slot":"three50","eventType":"active","data":{"email":"support@ilert.com","shift":"1"}}`

func TestMapPolicy(t *testing.T) {
	active := Config{FilterKey: "eventType", FilterVal: "active"}
	loc := PolicyConfig{RoutingKeys: []string{"location"}}
	tests := []struct {
		name    string
		cfg     Config
		pol     PolicyConfig
		payload string
		want    ilert.PolicyUpdate // checked when reason is ""
		reason  string             // a skip with this reason is expected
	}{
		{name: "63/sample", cfg: active, pol: loc, payload: samplePolicy,
			want: ilert.PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"}},
		{name: "64/concatenated", cfg: active, pol: PolicyConfig{RoutingKeys: []string{"location", "slot"}}, payload: samplePolicy,
			want: ilert.PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplantthree50"}},
		{name: "65/no_shift", pol: loc, payload: `{"location":"p","data":{"email":"a@b"}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 0, RoutingKey: "p"}},
		{name: "66/custom_paths", pol: PolicyConfig{RoutingKeys: []string{"zone"}, MapKeyEmail: "user.contact.mail", MapKeyShift: "meta.tier"},
			payload: `{"zone":"east","user":{"contact":{"mail":"c@d"}},"meta":{"tier":"2"}}`,
			want:    ilert.PolicyUpdate{Email: "c@d", Shift: 2, RoutingKey: "east"}},
		{name: "67/filter_mismatch", cfg: active, pol: loc, payload: `{"location":"p","eventType":"inactive","data":{"email":"a@b"}}`,
			reason: `filter_key "eventType" is "inactive", not "active"`},

		// Scenario 69: shift.
		{name: "69/shift_integer", pol: loc, payload: `{"location":"p","data":{"email":"a@b","shift":2}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 2, RoutingKey: "p"}},
		{name: "69/offset_integer", pol: PolicyConfig{RoutingKeys: []string{"location"}, ShiftOffset: -1}, payload: `{"location":"p","data":{"email":"a@b","shift":2}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 1, RoutingKey: "p"}},
		{name: "69/offset_string", pol: PolicyConfig{RoutingKeys: []string{"location"}, ShiftOffset: -1}, payload: `{"location":"p","data":{"email":"a@b","shift":"3"}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 2, RoutingKey: "p"}},
		{name: "69/offset_clamped", pol: PolicyConfig{RoutingKeys: []string{"location"}, ShiftOffset: -5}, payload: `{"location":"p","data":{"email":"a@b","shift":2}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 0, RoutingKey: "p"}},
		{name: "69/missing_shift", pol: loc, payload: `{"location":"p","data":{"email":"a@b"}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 0, RoutingKey: "p"}},
		{name: "69/positive_offset", pol: PolicyConfig{RoutingKeys: []string{"location"}, ShiftOffset: 2}, payload: `{"location":"p","data":{"email":"a@b"}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 2, RoutingKey: "p"}},
		{name: "shift_unparsable_string", pol: loc, payload: `{"location":"p","data":{"email":"a@b","shift":"one"}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 0, RoutingKey: "p"}},
		{name: "shift_float", pol: loc, payload: `{"location":"p","data":{"email":"a@b","shift":2.0}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 0, RoutingKey: "p"}},
		{name: "shift_exponent", pol: loc, payload: `{"location":"p","data":{"email":"a@b","shift":1e1}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 0, RoutingKey: "p"}},
		{name: "shift_bool", pol: loc, payload: `{"location":"p","data":{"email":"a@b","shift":true}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 0, RoutingKey: "p"}},
		{name: "shift_negative_clamped", pol: loc, payload: `{"location":"p","data":{"email":"a@b","shift":-3}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 0, RoutingKey: "p"}},
		{name: "shift_saturates", pol: PolicyConfig{RoutingKeys: []string{"location"}, ShiftOffset: 5}, payload: `{"location":"p","data":{"email":"a@b","shift":9223372036854775807}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: math.MaxInt64, RoutingKey: "p"}},
		{name: "shift_too_large", pol: loc, payload: `{"location":"p","data":{"email":"a@b","shift":9223372036854775808}}`,
			want: ilert.PolicyUpdate{Email: "a@b", Shift: 0, RoutingKey: "p"}},

		// Scenario 69: email.
		{name: "69/custom_email_path_missing", pol: PolicyConfig{RoutingKeys: []string{"location"}, MapKeyEmail: "user.mail"}, payload: samplePolicy,
			reason: "Policy message missing email at 'user.mail'"},
		{name: "69/missing_email", pol: loc, payload: `{"location":"p","data":{"shift":1}}`,
			reason: "Policy message missing email at 'data.email'"},
		{name: "69/empty_email", pol: loc, payload: `{"location":"p","data":{"email":""}}`,
			reason: "Policy message missing email at 'data.email'"},
		{name: "69/no_data", pol: loc, payload: `{"location":"p"}`,
			reason: "Policy message missing email at 'data.email'"},
		{name: "email_not_string", pol: loc, payload: `{"location":"p","data":{"email":5}}`,
			reason: "Policy message missing email at 'data.email'"},

		// Scenario 69: routing keys.
		{name: "69/routing_single", pol: loc, payload: samplePolicy,
			want: ilert.PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"}},
		{name: "69/routing_spaces_trimmed", pol: PolicyConfig{RoutingKeys: []string{" location ", "slot "}}, payload: samplePolicy,
			want: ilert.PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplantthree50"}},
		{name: "69/routing_missing_field_skipped", pol: PolicyConfig{RoutingKeys: []string{"location", "nope", "slot"}}, payload: samplePolicy,
			want: ilert.PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplantthree50"}},
		{name: "routing_non_string_and_empty_skipped", pol: PolicyConfig{RoutingKeys: []string{"n", "e", "location"}},
			payload: `{"n":5,"e":"","location":"p","data":{"email":"a@b"}}`,
			want:    ilert.PolicyUpdate{Email: "a@b", RoutingKey: "p"}},
		{name: "69/routing_not_configured", pol: PolicyConfig{}, payload: samplePolicy,
			reason: "No routing key could be extracted"},
		{name: "69/routing_nothing_found", pol: PolicyConfig{RoutingKeys: []string{"zone", "area"}}, payload: samplePolicy,
			reason: "No routing key could be extracted"},
		{name: "routing_dot_path", pol: PolicyConfig{RoutingKeys: []string{"site.name", "slot"}},
			payload: `{"site":{"name":"north"},"slot":"7","data":{"email":"a@b"}}`,
			want:    ilert.PolicyUpdate{Email: "a@b", RoutingKey: "north7"}},
		{name: "routing_literal_top_level_wins", pol: PolicyConfig{RoutingKeys: []string{"site.name"}},
			payload: `{"site.name":"literal","site":{"name":"nested"},"data":{"email":"a@b"}}`,
			want:    ilert.PolicyUpdate{Email: "a@b", RoutingKey: "literal"}},

		// Scenario 69: filter.
		{name: "69/filter_non_string", cfg: Config{FilterKey: "eventType", FilterVal: "active"}, pol: loc,
			payload: `{"location":"p","eventType":123,"data":{"email":"a@b"}}`, reason: `filter_key "eventType" is not a string`},
		{name: "69/filter_missing_key", cfg: Config{FilterKey: "eventType", FilterVal: "active"}, pol: loc,
			payload: `{"location":"p","data":{"email":"a@b"}}`, reason: `filter_key "eventType" not in payload`},
		{name: "filter_key_only_non_string_passes", cfg: Config{FilterKey: "eventType"}, pol: loc,
			payload: `{"location":"p","eventType":123,"data":{"email":"a@b"}}`,
			want:    ilert.PolicyUpdate{Email: "a@b", RoutingKey: "p"}},
		{name: "filter_dot_path", cfg: Config{FilterKey: "meta.state", FilterVal: "on"}, pol: loc,
			payload: `{"location":"p","meta":{"state":"on"},"data":{"email":"a@b"}}`,
			want:    ilert.PolicyUpdate{Email: "a@b", RoutingKey: "p"}},

		// Step 1: parse.
		{name: "not_json", pol: loc, payload: `not json`, reason: "payload is not a JSON object: invalid character 'o' in literal null (expecting 'u')"},
		{name: "empty", pol: loc, payload: ``, reason: "payload is not a JSON object: unexpected end of JSON input"},
		{name: "null", pol: loc, payload: `null`, reason: "payload is not a JSON object: null"},
		{name: "array", pol: loc, payload: `[1]`, reason: "payload is not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"},
		{name: "not_utf8", pol: loc, payload: "{\"location\":\"\xff\"}", reason: "payload is not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skip, reason := MapPolicy(tc.cfg, tc.pol, []byte(tc.payload))
			if tc.reason != "" {
				require.True(t, skip, "got %+v", got)
				require.Equal(t, tc.reason, reason)
				return
			}
			require.False(t, skip, reason)
			require.Equal(t, tc.want, got)
			b, err := got.Encode()
			require.NoError(t, err, "a mapped update always encodes")
			back, err := ilert.DecodePolicyUpdate(b)
			require.NoError(t, err)
			require.Equal(t, got, back)
		})
	}
}

func TestPolicyDefaultsAndValidate(t *testing.T) {
	d := DefaultPolicyConfig()
	require.Equal(t, "data.email", d.MapKeyEmail)
	require.Equal(t, "data.shift", d.MapKeyShift)
	require.Zero(t, d.ShiftOffset)
	require.ErrorContains(t, d.Validate(), "policy_routing_keys: at least one field name is required")

	// Zero paths mean the defaults.
	got, skip, reason := MapPolicy(Config{}, PolicyConfig{RoutingKeys: []string{"location"}}, []byte(samplePolicy))
	require.False(t, skip, reason)
	require.Equal(t, ilert.PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"}, got)

	for _, tc := range []struct {
		name string
		p    PolicyConfig
		want []string // substrings; none means valid
	}{
		{"ok", PolicyConfig{RoutingKeys: []string{"location", " slot"}, MapKeyEmail: "a.b", ShiftOffset: -1}, nil},
		{"empty_name", PolicyConfig{RoutingKeys: []string{"location", "  "}}, []string{"policy_routing_keys[1]: empty field name"}},
		{"every_problem", PolicyConfig{RoutingKeys: nil, MapKeyEmail: " data.email", MapKeyShift: "x "}, []string{
			"policy_routing_keys: at least one", "map_key_email: \" data.email\" has leading or trailing spaces",
			"map_key_shift: \"x \" has leading or trailing spaces",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}
