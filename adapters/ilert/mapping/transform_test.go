package mapping_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/ilert/mapping"
)

func transformConfig() mapping.TransformConfig {
	c := mapping.DefaultTransformConfig()
	c.Topics = mapping.Topics{Event: "ilert/events", Heartbeat: "ilert/heartbeats", Policy: "ilert/policies"}
	c.RoutingKeys = []string{"location"}
	c.FilterKey, c.FilterVal = "eventType", "active"
	return c
}

func newTransform(t *testing.T, c mapping.TransformConfig) *mapping.Transform {
	t.Helper()
	require.NoError(t, c.Validate())
	tr, err := mapping.NewTransform(c, adapters.Deps{})
	require.NoError(t, err)
	return tr
}

func ev(topic, payload string) *adapters.Event {
	return &adapters.Event{ID: "e1", Source: "plant", Topic: topic, Payload: []byte(payload)}
}

func TestTransformConformance(t *testing.T) {
	adaptertest.RunTransform(t, adaptertest.TransformHarness{
		New: func(t *testing.T) adapters.Transform {
			c := transformConfig()
			c.FilterKey, c.FilterVal = "", ""
			return newTransform(t, c)
		},
		Inputs: []*adapters.Event{
			ev("ilert/events", `{"apiKey":"k1","eventType":"ALERT","summary":"down","alertKey":"a1"}`),
			ev("ilert/events", `{"eventType":"resolve","alertKey":"a1"}`),
			ev("ilert/events", `not json`),
			ev("ilert/heartbeats", `{"apiKey":"il1hbt123"}`),
			ev("ilert/policies", `{"location":"plant","data":{"email":"a@b.c","shift":"1"}}`),
			ev("other/topic", `{}`),
		},
	})
}

func TestTransform(t *testing.T) {
	tests := []struct {
		name     string
		kafka    bool
		topic    string
		payload  string
		attrs    map[string]string
		wantKind string // "" = skipped, "error" = refused
		wantKey  string
		check    func(t *testing.T, out *adapters.Event)
	}{
		{name: "event not matching the filter is skipped", topic: "ilert/events",
			payload: `{"apiKey":"k1","eventType":"ALERT","summary":"down","alertKey":"a1"}`, wantKind: ""},
		{name: "event matching the filter", topic: "ilert/events",
			payload:  `{"apiKey":"k1","eventType":"active","state":"ALERT","alertKey":"a1"}`,
			wantKind: "error", // with no map_key_etype, "active" is the event type: refused, not dropped
		},
		{name: "filtered event is skipped", topic: "ilert/events",
			payload: `{"apiKey":"k1","eventType":"inactive"}`, wantKind: ""},
		{name: "invalid JSON is refused", topic: "ilert/events", payload: `not json at all`, wantKind: "error"},
		{name: "heartbeat", topic: "ilert/heartbeats", payload: `{"apiKey":"il1hbt123"}`,
			wantKind: adapters.KindHeartbeat, wantKey: "il1hbt123"},
		{name: "heartbeat without key is refused", topic: "ilert/heartbeats", payload: `{}`, wantKind: "error"},
		{name: "policy update", topic: "ilert/policies",
			payload:  `{"location":"powerplant","eventType":"active","data":{"email":"support@ilert.com","shift":"1"}}`,
			wantKind: adapters.KindPolicy, wantKey: "powerplant",
			check: func(t *testing.T, out *adapters.Event) {
				upd, err := ilert.DecodePolicyUpdate(out.Payload)
				require.NoError(t, err)
				require.Equal(t, ilert.PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"}, upd)
			}},
		{name: "filtered policy is skipped (no API calls)", topic: "ilert/policies",
			payload: `{"location":"powerplant","eventType":"inactive","data":{"email":"a@b.c"}}`, wantKind: ""},
		{name: "policy without email is refused", topic: "ilert/policies",
			payload: `{"location":"powerplant","eventType":"active"}`, wantKind: "error"},
		{name: "other topic is skipped", topic: "other/topic", payload: `{}`, wantKind: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransform(t, transformConfig())
			in := ev(tc.topic, tc.payload)
			in.Attrs = tc.attrs
			out, err := tr.Transform(in)
			switch tc.wantKind {
			case "":
				require.True(t, adapters.IsSkip(err), "want a skip, got %v", err)
				return
			case "error":
				require.Error(t, err)
				require.False(t, adapters.IsSkip(err), "want a refusal, got a skip: %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantKind, out.Kind)
			require.Equal(t, tc.wantKey, out.Key)
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func TestTransformEventPaths(t *testing.T) {
	for _, consumer := range []string{mapping.ConsumerMQTT, mapping.ConsumerKafka} {
		t.Run(consumer, func(t *testing.T) {
			c := mapping.DefaultTransformConfig()
			c.Consumer = consumer
			c.Topics = mapping.Topics{Event: "ilert-events"}
			c.EventKey = "static-api-key"
			c.MapKeyEtype, c.MapValEtypeAlert = "state", "SET"
			c.MapKeyAlertKey, c.MapKeySummary = "mCode", "msg"
			tr := newTransform(t, c)
			in := ev("ilert-events", `{"state":"SET","mCode":"M-100","msg":"Pump failure detected"}`)
			in.Attrs = map[string]string{mapping.AttrKafkaKey: "msg-key"}
			out, err := tr.Transform(in)
			require.NoError(t, err)
			require.Equal(t, adapters.KindAlert, out.Kind)
			require.Equal(t, "M-100", out.Key, "ordered per alertKey")
			require.Equal(t, consumer, out.Attrs[ilert.AttrEventsPath])
			var body map[string]any
			require.NoError(t, json.Unmarshal(out.Payload, &body))
			// The route's event_key is named by reference, never stored in the body:
			// the ilert sink puts it back at send time.
			require.Equal(t, "", body["integrationKey"])
			require.NotContains(t, string(out.Payload), "static-api-key")
			require.Equal(t, ilert.KeyRef("static-api-key"), out.Attrs[ilert.AttrKeyRef])
			require.Equal(t, "ALERT", body["eventType"])
			require.Equal(t, "Pump failure detected", body["summary"])
			require.Equal(t, "M-100", body["alertKey"])
			want := map[string]any{"topic": "ilert-events"}
			if consumer == mapping.ConsumerKafka {
				want["messageKey"] = "msg-key"
			}
			require.Equal(t, want, body["customDetails"])
		})
	}
}

func TestTransformConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(c *mapping.TransformConfig)
		want string
	}{
		{"ok", func(*mapping.TransformConfig) {}, ""},
		{"no topic", func(c *mapping.TransformConfig) { c.Topics = mapping.Topics{} }, "at least one of event_topic"},
		{"bad consumer", func(c *mapping.TransformConfig) { c.Consumer = "amqp" }, "consumer: must be mqtt or kafka"},
		{"policy topic without routing keys", func(c *mapping.TransformConfig) { c.RoutingKeys = nil }, "policy_routing_keys"},
		{"routing keys without policy topic", func(c *mapping.TransformConfig) { c.Topics.Policy = "" }, "no effect without policy_topic"},
		{"bad filter", func(c *mapping.TransformConfig) { c.Topics.Event = "a/#/b" }, "event_topic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := transformConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestTransformAllocs holds the transform of an event to its three allocations: the
// derived event, the payload's one string copy and the body.
func TestTransformAllocs(t *testing.T) {
	tr := newTransform(t, mapping.TransformConfig{Topics: mapping.Topics{Event: "bench/alerts"}})
	for _, p := range []string{
		`{"apiKey":"il1api-bench","eventType":"alert","summary":"s","details":"d","alertKey":"k17","priority":"high","customDetails":{"id":"x","ts":1}}`,
		`{"id":"x","key":"k17","ts":1,"summary":"s","details":"d","priority":"HIGH"}`,
	} {
		e := ev("bench/alerts", p)
		require.Equal(t, 3.0, testing.AllocsPerRun(100, func() {
			_, err := tr.Transform(e)
			require.NoError(t, err)
		}), "payload %s", p)
	}
}
