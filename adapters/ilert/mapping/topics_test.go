package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	ev := Topics{Event: "ilert/events", Heartbeat: "ilert/heartbeats"}
	tests := []struct {
		name   string
		topics Topics
		topic  string
		want   Kind
	}{
		{"27/heartbeat", ev, "ilert/heartbeats", Heartbeat},
		{"27/event", ev, "ilert/events", Event},
		{"27/other", ev, "other/topic", Ignored},
		{"28/hash_event", Topics{Event: "#"}, "factory/sensors/temp", Event},
		{"28/plus_event", Topics{Event: "ilert/+/events"}, "ilert/zone1/events", Event},
		{"28/heartbeat_beats_hash", Topics{Event: "#", Heartbeat: "ilert/heartbeats"}, "ilert/heartbeats", Heartbeat},
		// ilagent: Event (a wildcard event topic takes every topic); fixed per §11.7.
		{"28/wildcard_matches_only_its_topics", Topics{Event: "devices/+/alerts"}, "some/random/topic", Ignored},
		{"28/wildcard_match", Topics{Event: "devices/+/alerts"}, "devices/pump1/alerts", Event},
		{"29/policy", Topics{Event: "ilert/events", Policy: "ilert/policies"}, "ilert/policies", Policy},
		{"29/heartbeat_before_policy", Topics{Heartbeat: "ilert/x", Policy: "ilert/x"}, "ilert/x", Heartbeat},
		{"29/policy_no_match_is_event", Topics{Event: "ilert/events", Policy: "ilert/policies"}, "ilert/events", Event},
		{"29/no_policy_topic", ev, "ilert/policies", Ignored},
		{"30/policy_hash", Topics{Policy: "ilert/policies/#"}, "ilert/policies/abc", Policy},
		{"30/policy_plus", Topics{Policy: "ilert/+/policies"}, "ilert/zone1/policies", Policy},
		{"30/policy_plus_no_match_is_event", Topics{Event: "events/foo", Policy: "ilert/+/policies"}, "events/foo", Event},
		{"30/hash_matches_parent", Topics{Policy: "ilert/#"}, "ilert", Policy},
		{"30/plus_one_level", Topics{Policy: "ilert/+"}, "ilert/a/b", Ignored},
		{"30/hash_does_not_beat_heartbeat", Topics{Heartbeat: "ilert/heartbeats", Policy: "#"}, "ilert/heartbeats", Heartbeat},
		// §11.7: heartbeat topics are filters too.
		{"heartbeat_wildcard", Topics{Heartbeat: "hb/+"}, "hb/pump1", Heartbeat},
		{"nothing_configured", Topics{}, "a", Ignored},
		{"kafka_exact", Topics{Event: "ilert-events"}, "ilert-events", Event},
		{"kafka_other", Topics{Event: "ilert-events"}, "ilert-events2", Ignored},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.topics.Classify(tc.topic)
			require.Equal(t, tc.want, got, "got %v, want %v", got, tc.want)
		})
	}
}

func TestTopicsValidate(t *testing.T) {
	require.NoError(t, (&Topics{Event: "a/#"}).Validate())
	require.NoError(t, (&Topics{Policy: "ilert/+/policies"}).Validate())
	require.ErrorContains(t, (&Topics{}).Validate(), "at least one")
	require.ErrorContains(t, (&Topics{Event: "a/#/b"}).Validate(), "event_topic")
	require.ErrorContains(t, (&Topics{Heartbeat: "a+"}).Validate(), "heartbeat_topic")
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Ignored: "ignored", Event: "event", Heartbeat: "heartbeat", Policy: "policy"} {
		require.Equal(t, want, k.String())
	}
}

func TestHeartbeatKey(t *testing.T) {
	tests := []struct {
		name, payload, want string
		ok                  bool
	}{
		{"42/api_key", `{"apiKey":"il1hbt123abc"}`, "il1hbt123abc", true},
		{"42/integration_key", `{"integrationKey":"il1hbt1"}`, "il1hbt1", true},
		{"42/extra_fields", `{"apiKey":"k","foo":1,"bar":{"x":[]}}`, "k", true},
		{"42/empty_object", `{}`, "", false},
		{"42/not_json", `not json`, "", false},
		{"42/empty", ``, "", false},
		{"not_string", `{"apiKey":42}`, "", false},
		{"empty_key", `{"apiKey":""}`, "", false},
		{"array", `["k"]`, "", false},
		{"null", `null`, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := HeartbeatKey([]byte(tc.payload))
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}
