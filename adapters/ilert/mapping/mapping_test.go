package mapping

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert"
)

// allMappings is the configuration of scenarios 14, 36 and 87.
var allMappings = Config{
	EventKey:           "static-api-key",
	MapKeyEtype:        "state",
	MapKeyAlertKey:     "mCode",
	MapKeySummary:      "comment",
	MapValEtypeAlert:   "SET",
	MapValEtypeAccept:  "ACK",
	MapValEtypeResolve: "CLR",
}

func TestMap(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		topic     string
		payload   string
		kafka     bool   // map with MapKafka
		kafkaKey  string // the Kafka message key
		skip      bool
		permanent bool           // a Permanent error is expected
		want      map[string]any // body fields to check; nil means JSON null
		wantBody  string         // whole body, when set
		warnings  int
	}{
		{name: "31/carried_over", payload: `{"apiKey":"il1api123","eventType":"ALERT","summary":"Server down"}`,
			want: map[string]any{"integrationKey": "il1api123", "eventType": "ALERT", "summary": "Server down"}},
		{name: "31/not_json", payload: `not json`, skip: true},
		{name: "31/empty", payload: ``, skip: true},
		{name: "31/empty_object", topic: "ilert/events", payload: `{}`,
			wantBody: `{"integrationKey":"","eventType":"ALERT","summary":"New alert from ilert/events","details":null,"alertKey":null,"priority":null,"images":null,"links":null,"customDetails":{"topic":"ilert/events"}}`},
		{name: "31/array", payload: `[{"summary":"x"}]`, skip: true},
		{name: "31/null", payload: `null`, skip: true},
		{name: "31/string", payload: `"x"`, skip: true},
		{name: "31/not_utf8", payload: "{\"summary\":\"\xff\"}", skip: true},
		{name: "31/wrong_type", payload: `{"summary":5}`, skip: true},
		{name: "31/wrong_type_images", payload: `{"images":{"src":"x"}}`, skip: true},
		{name: "31/wrong_type_link_entry", payload: `{"links":["http://x"]}`, skip: true},
		{name: "31/image_without_src", payload: `{"images":[{"href":"x"}]}`, skip: true},
		{name: "31/null_fields_are_absent", topic: "t", payload: `{"summary":null,"alertKey":null,"images":null,"customDetails":null}`,
			want: map[string]any{"summary": "New alert from t", "alertKey": nil, "images": nil, "customDetails": map[string]any{"topic": "t"}}},
		{name: "32/all_fields", topic: "t", payload: `{"apiKey":"key1","eventType":"RESOLVE","summary":"s","details":"d","alertKey":"a","priority":"HIGH",
			"images":[{"src":"http://i/1.png","alt":"pic"}],"links":[{"href":"http://l","text":"Dashboard"}],"customDetails":{"env":"prod","n":[1,2]}}`,
			wantBody: `{"integrationKey":"key1","eventType":"RESOLVE","summary":"s","details":"d","alertKey":"a","priority":"HIGH",
			"images":[{"src":"http://i/1.png","href":null,"alt":"pic"}],"links":[{"href":"http://l","text":"Dashboard"}],"customDetails":{"env":"prod","n":[1,2]}}`},
		{name: "33/event_key_overrides", cfg: Config{EventKey: "static-key"}, payload: `{"apiKey":"original-key"}`,
			want: map[string]any{"integrationKey": "static-key"}},
		{name: "33/event_key_overrides_integration_key", cfg: Config{EventKey: "static-key"}, payload: `{"integrationKey":"original-key"}`,
			want: map[string]any{"integrationKey": "static-key"}},
		{name: "33/integration_key_before_api_key", payload: `{"integrationKey":"a","apiKey":"b"}`,
			want: map[string]any{"integrationKey": "a"}, warnings: 1},
		{name: "34/summary", cfg: Config{MapKeySummary: "comment"}, payload: `{"comment":"My custom summary"}`,
			want: map[string]any{"summary": "My custom summary"}},
		{name: "34/alert_key", cfg: Config{MapKeyAlertKey: "mCode"}, payload: `{"mCode":"CODE-42"}`,
			want: map[string]any{"alertKey": "CODE-42"}},
		{name: "34/etype", cfg: Config{MapKeyEtype: "state"}, payload: `{"state":"RESOLVE"}`,
			want: map[string]any{"eventType": "RESOLVE", "summary": ""}},
		{name: "34/non_string_keeps_original", cfg: Config{MapKeySummary: "comment"}, payload: `{"summary":"orig","comment":42}`,
			want: map[string]any{"summary": "orig"}, warnings: 1},
		{name: "35/set", cfg: allMappings, payload: `{"state":"SET"}`, want: map[string]any{"eventType": "ALERT"}},
		{name: "35/ack", cfg: allMappings, payload: `{"state":"ACK"}`, want: map[string]any{"eventType": "ACCEPT"}},
		{name: "35/clr", cfg: allMappings, payload: `{"state":"CLR"}`, want: map[string]any{"eventType": "RESOLVE"}},
		// ilagent queues "UNKNOWN" and drops it at send time; fixed per §11.5.
		{name: "35/unknown", cfg: allMappings, payload: `{"state":"UNKNOWN"}`, permanent: true,
			want: map[string]any{"eventType": "UNKNOWN"}},
		{name: "35/map_val_is_case_sensitive", cfg: allMappings, payload: `{"state":"set"}`, permanent: true},
		{name: "35/missing_etype_path_keeps_payload_type", cfg: allMappings, payload: `{"eventType":"ACCEPT"}`,
			want: map[string]any{"eventType": "ACCEPT"}},
		{name: "36/full_pipeline", cfg: allMappings, payload: `{"state":"SET","mCode":"M-100","comment":"Pump failure"}`,
			want: map[string]any{"integrationKey": "static-api-key", "eventType": "ALERT", "alertKey": "M-100", "summary": "Pump failure"}},
		{name: "37/dot_paths", topic: "t1", cfg: Config{MapKeySummary: "data.message", MapKeyAlertKey: "meta.code", MapKeyEtype: "status.type"},
			payload: `{"data":{"message":"deep"},"meta":{"code":"C-1"},"status":{"type":"ACCEPT"}}`,
			want:    map[string]any{"summary": "deep", "alertKey": "C-1", "eventType": "ACCEPT"}},
		{name: "37/missing_deep_path", topic: "t1", cfg: Config{MapKeySummary: "data.nonexistent.deep"}, payload: `{"data":{"message":"x"}}`,
			want: map[string]any{"summary": "New alert from t1"}},
		{name: "37/path_through_non_object", topic: "t1", cfg: Config{MapKeySummary: "data.message.x"}, payload: `{"data":{"message":"x"}}`,
			want: map[string]any{"summary": "New alert from t1"}},
		{name: "37/literal_dotted_top_level_key", cfg: Config{MapKeySummary: "a.b"}, payload: `{"a.b":"literal"}`,
			want: map[string]any{"summary": "literal"}},
		{name: "37/priority_path", cfg: Config{MapKeyPriority: "sev.level"}, payload: `{"sev":{"level":"low"}}`,
			want: map[string]any{"priority": "LOW"}},
		{name: "38/key_present", cfg: Config{FilterKey: "type"}, payload: `{"type":"x"}`},
		{name: "38/key_missing", cfg: Config{FilterKey: "type"}, payload: `{"other":"x"}`, skip: true},
		{name: "38/key_value_match", cfg: Config{FilterKey: "type", FilterVal: "ALARM"}, payload: `{"type":"ALARM"}`},
		{name: "38/key_value_mismatch", cfg: Config{FilterKey: "type", FilterVal: "ALARM"}, payload: `{"type":"INFO"}`, skip: true},
		{name: "38/non_string_with_val", cfg: Config{FilterKey: "type", FilterVal: "123"}, payload: `{"type":123}`, skip: true},
		{name: "38/key_only_non_string", cfg: Config{FilterKey: "type"}, payload: `{"type":123}`},
		{name: "38/key_only_null", cfg: Config{FilterKey: "type"}, payload: `{"type":null}`},
		// ilagent: top-level names only (§11.8).
		{name: "38/dot_path", cfg: Config{FilterKey: "meta.kind", FilterVal: "ALARM"}, payload: `{"meta":{"kind":"ALARM"}}`},
		{name: "38/dot_path_mismatch", cfg: Config{FilterKey: "meta.kind", FilterVal: "ALARM"}, payload: `{"meta":{"kind":"INFO"}}`, skip: true},
		{name: "38/literal_dotted_top_level", cfg: Config{FilterKey: "meta.kind", FilterVal: "ALARM"}, payload: `{"meta.kind":"ALARM"}`},
		{name: "38/invalid_payload_before_filter", cfg: Config{FilterKey: "type"}, payload: `{"type":"x","summary":1}`, skip: true},
		{name: "39/alert_default_summary", topic: "factory/sensors", payload: `{"eventType":"ALERT"}`,
			want: map[string]any{"summary": "New alert from factory/sensors"}},
		{name: "39/resolve_empty_summary", topic: "factory/sensors", payload: `{"eventType":"RESOLVE"}`,
			want: map[string]any{"summary": ""}},
		{name: "39/empty_summary_kept", topic: "factory/sensors", payload: `{"summary":""}`,
			want: map[string]any{"summary": ""}},
		{name: "40/mqtt_default", topic: "ilert/events", payload: `{"extra":1}`,
			want: map[string]any{"customDetails": map[string]any{"topic": "ilert/events"}}},
		{name: "40/kafka_default", topic: "ilert-events", kafka: true, kafkaKey: "k1", payload: `{"extra":1}`,
			want: map[string]any{"customDetails": map[string]any{"messageKey": "k1", "topic": "ilert-events"}}},
		{name: "40/kafka_default_empty_key", topic: "ilert-events", kafka: true, payload: `{}`,
			want: map[string]any{"customDetails": map[string]any{"messageKey": "", "topic": "ilert-events"}}},
		{name: "40/present_kept", topic: "t", payload: `{"customDetails":{"a":"<b>&"}}`,
			want: map[string]any{"customDetails": map[string]any{"a": "<b>&"}}},
		{name: "40/forward", topic: "t", cfg: Config{ForwardMessagePayload: true}, payload: `{"extra":"x","nested":{"val":42}}`,
			want: map[string]any{"customDetails": map[string]any{"extra": "x", "nested": map[string]any{"val": 42}}}},
		{name: "40/forward_kafka", topic: "t", kafka: true, kafkaKey: "k", cfg: Config{ForwardMessagePayload: true}, payload: `{"extra":"x"}`,
			want: map[string]any{"customDetails": map[string]any{"extra": "x"}}},
		{name: "40/forward_but_present", topic: "t", cfg: Config{ForwardMessagePayload: true}, payload: `{"extra":"x","customDetails":{"k":"v"}}`,
			want: map[string]any{"customDetails": map[string]any{"k": "v"}}},
		{name: "40/forward_off_no_leak", topic: "t", payload: `{"extra":"x","nested":{"val":42}}`,
			want: map[string]any{"customDetails": map[string]any{"topic": "t"}}},
		{name: "78/forward_with_dot_paths", topic: "ilert/events",
			cfg: Config{EventKey: "k", MapKeyEtype: "eventType", MapValEtypeAlert: "alertCreated", MapKeySummary: "data.message",
				MapKeyAlertKey: "data.alertId", ForwardMessagePayload: true},
			payload: `{"eventType":"alertCreated","data":{"message":"m","alertId":"A1","priority":2,"alarmGroup":[]}}`,
			want: map[string]any{"integrationKey": "k", "eventType": "ALERT", "summary": "m", "alertKey": "A1",
				"customDetails": map[string]any{"eventType": "alertCreated", "data": map[string]any{"message": "m", "alertId": "A1", "priority": 2, "alarmGroup": []any{}}}}},
		// Validation at mapping time (§11.5); ilagent drops these only when sending.
		{name: "59/invalid_type", payload: `{"eventType":"INVALID"}`, permanent: true},
		{name: "59/priority_medium", payload: `{"priority":"MEDIUM"}`, permanent: true},
		{name: "59/priority_empty", payload: `{"priority":""}`, permanent: true},
		{name: "59/lowercase_type_and_priority", payload: `{"eventType":"resolve","priority":"high"}`,
			want: map[string]any{"eventType": "RESOLVE", "priority": "HIGH", "summary": ""}},
		{name: "59/lowercase_alert_gets_default_summary", topic: "t", payload: `{"eventType":"alert"}`,
			want: map[string]any{"eventType": "ALERT", "summary": "New alert from t"}},
		{name: "59/comment", payload: `{"eventType":"COMMENT","summary":"c"}`, want: map[string]any{"eventType": "COMMENT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.cfg.Validate())
			var res Result
			var err error
			if tc.kafka {
				res, err = MapKafka(tc.cfg, tc.topic, tc.kafkaKey, []byte(tc.payload))
			} else {
				res, err = Map(tc.cfg, tc.topic, []byte(tc.payload))
			}
			if tc.permanent {
				require.Error(t, err)
				require.True(t, adapters.IsPermanent(err), "got %v, want a Permanent error", err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.skip, res.Skip, "reason %q", res.Reason)
			if tc.skip {
				require.NotEmpty(t, res.Reason)
				require.Nil(t, res.Body)
				return
			}
			require.Len(t, res.Warnings, tc.warnings, "warnings %q", res.Warnings)
			if tc.wantBody != "" {
				require.JSONEq(t, tc.wantBody, string(res.Body))
			}
			var got map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(res.Body, &got))
			require.Len(t, got, 9, "body %s", res.Body)
			for k, v := range tc.want {
				w, err := json.Marshal(v)
				require.NoError(t, err)
				require.JSONEq(t, string(w), string(got[k]), "field %s of %s", k, res.Body)
			}
			var b ilert.Event
			require.NoError(t, json.Unmarshal(res.Body, &b))
			require.Equal(t, b.IntegrationKey, res.IntegrationKey)
			require.Equal(t, b.EventType, res.EventType)
			if b.AlertKey != nil {
				require.Equal(t, *b.AlertKey, res.AlertKey)
			} else {
				require.Empty(t, res.AlertKey)
			}
		})
	}
}

func TestMapPath(t *testing.T) {
	tests := []struct {
		name, key, want string
		kafka           bool
	}{
		{"41/mqtt", "key1", "/api/v1/events/mqtt/key1", false},
		{"41/kafka", "key1", "/api/v1/events/kafka/key1", true},
		{"41/empty_key", "", "/api/v1/events/mqtt/", false},
		{"escaped", "a/b c", "/api/v1/events/mqtt/a%2Fb%20c", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := []byte(`{"integrationKey":"` + tc.key + `"}`)
			var res Result
			var err error
			if tc.kafka {
				res, err = MapKafka(Config{}, "t", "", p)
			} else {
				res, err = Map(Config{}, "t", p)
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, res.Path)
		})
	}
	// 41: the event_key and the topic in customDetails.
	res, err := Map(Config{EventKey: "static-key"}, "ilert/events", []byte(`{}`))
	require.NoError(t, err)
	require.Equal(t, "/api/v1/events/mqtt/static-key", res.Path)
	require.Contains(t, string(res.Body), `"customDetails":{"topic":"ilert/events"}`)
}

func TestMapPermanentKeepsResult(t *testing.T) {
	res, err := Map(allMappings, "t", []byte(`{"state":"UNKNOWN","mCode":"M-1"}`))
	require.True(t, adapters.IsPermanent(err))
	require.ErrorContains(t, err, `"UNKNOWN"`)
	require.Equal(t, "UNKNOWN", res.EventType)
	require.Equal(t, "M-1", res.AlertKey)
	require.NotEmpty(t, res.Body)

	_, err = Map(Config{}, "t", []byte(`{"eventType":"X","priority":"MEDIUM"}`))
	require.ErrorContains(t, err, "event type")
	require.ErrorContains(t, err, "priority")
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" means valid
	}{
		{"zero", Config{}, ""},
		{"14/all_flags", Config{EventKey: "static-key", MapKeyEtype: "state", MapKeyAlertKey: "mCode", MapKeySummary: "comment",
			MapValEtypeAlert: "SET", MapValEtypeAccept: "ACK", MapValEtypeResolve: "CLR", FilterKey: "type", FilterVal: "ALARM"}, ""},
		{"filter_val_without_key", Config{FilterVal: "x"}, "filter_val"},
		{"map_val_without_map_key", Config{MapValEtypeAlert: "SET"}, "map_val_etype_alert"},
		{"duplicate_map_val", Config{MapKeyEtype: "s", MapValEtypeAlert: "X", MapValEtypeResolve: "X"}, "map_val_etype_resolve"},
		{"spaces", Config{MapKeySummary: " a"}, "map_key_summary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
