package alerta_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

var received = time.Date(2026, 12, 2, 10, 11, 12, 345678000, time.UTC)

// ilertEvent is an event as the ilert_http source or the ilert transform stores it.
func ilertEvent(body string) *adapters.Event {
	return &adapters.Event{ID: "ev-1", Kind: adapters.KindAlert, Key: "k", Source: "plant", Topic: "ilert/events",
		Payload: []byte(body), Received: received}
}

// decoded is a converted alert body, decoded.
type decoded struct {
	ID          string         `json:"id"`
	Resource    string         `json:"resource"`
	Event       string         `json:"event"`
	Environment string         `json:"environment"`
	Severity    string         `json:"severity"`
	Service     []string       `json:"service"`
	Value       *string        `json:"value"`
	Text        string         `json:"text"`
	Attributes  map[string]any `json:"attributes"`
	Origin      string         `json:"origin"`
	CreateTime  string         `json:"createTime"`
	Timeout     int            `json:"timeout"`
}

func decodeAlert(t *testing.T, body []byte) decoded {
	t.Helper()
	// What the sink sends must pass the receiving side's validation.
	_, aerr := alerta.DecodeAlert(body, alerta.Defaults{})
	require.Nil(t, aerr, "body %s", body)
	var d decoded
	require.NoError(t, json.Unmarshal(body, &d))
	return d
}

// TestFromIlert is the table "ilert event" of convert.md.
func TestFromIlert(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		op       string
		severity string
		skip     string
		err      string
	}{
		{name: "alert high", body: `{"integrationKey":"","eventType":"ALERT","summary":"Pump failure","details":"8.7 bar","alertKey":"M-100","priority":"HIGH","customDetails":{"site":"hall3","bar":8.7}}`, op: alerta.OpAlert, severity: "major"},
		{name: "alert low", body: `{"eventType":"ALERT","summary":"s","alertKey":"M-100","priority":"LOW"}`, op: alerta.OpAlert, severity: "warning"},
		{name: "alert lowercase", body: `{"eventType":"alert","summary":"s","alertKey":"M-100","priority":"high"}`, op: alerta.OpAlert, severity: "major"},
		{name: "alert no priority", body: `{"eventType":"ALERT","summary":"s","alertKey":"M-100"}`, op: alerta.OpAlert, severity: "warning"},
		{name: "resolve", body: `{"eventType":"RESOLVE","summary":"","alertKey":"M-100"}`, op: alerta.OpAlert, severity: "normal"},
		{name: "accept", body: `{"eventType":"ACCEPT","summary":"on it","alertKey":"M-100"}`, op: alerta.OpAction},
		{name: "comment", body: `{"eventType":"COMMENT","summary":"note","alertKey":"M-100"}`, skip: "COMMENT"},
		{name: "resolve without key", body: `{"eventType":"RESOLVE","summary":""}`, skip: "without alertKey"},
		{name: "accept without key", body: `{"eventType":"ACCEPT"}`, skip: "without alertKey"},
		{name: "summary not a string", body: `{"eventType":"ALERT","summary":5}`, err: "summary is not a string"},
		{name: "alertKey not a string", body: `{"eventType":"ALERT","alertKey":[1]}`, err: "alertKey is not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := alerta.FromEvent(ilertEvent(tc.body), alerta.ConvertOptions{})
			if tc.err != "" {
				require.Error(t, err)
				require.True(t, adapters.IsPermanent(err))
				require.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			if tc.skip != "" {
				require.Contains(t, c.Skip, tc.skip)
				require.Empty(t, c.Op)
				require.Nil(t, c.Body)
				return
			}
			require.Empty(t, c.Skip)
			require.Equal(t, tc.op, c.Op)
			require.Equal(t, alerta.NameUUID("ilert\x00M-100"), c.ID, "the id comes from the alertKey alone")
			if c.Op == alerta.OpAction {
				act, aerr := alerta.DecodeAction(c.Body)
				require.Nil(t, aerr)
				require.Equal(t, "ack", act.Action)
				require.Equal(t, "on it", act.Text)
				d := decodeAlert(t, c.Resend)
				require.Equal(t, c.ID, d.ID, "the resend is the same alert")
				require.Equal(t, "M-100", d.Resource)
				return
			}
			require.Nil(t, c.Resend)
			d := decodeAlert(t, c.Body)
			require.Equal(t, c.ID, d.ID)
			require.Equal(t, "M-100", d.Resource)
			require.Equal(t, "edgerelay", d.Event)
			require.Equal(t, "Production", d.Environment)
			require.Equal(t, tc.severity, d.Severity)
			require.Equal(t, []string{"plant"}, d.Service)
			require.Equal(t, "edgerelay/plant", d.Origin)
			require.Equal(t, "2026-12-02T10:11:12.345Z", d.CreateTime, "createTime is when the relay saw the event")
			require.Equal(t, 86400, d.Timeout)
		})
	}
}

// TestFromIlertFields: text, value and attributes of an ilert ALERT; RESOLVE and
// ALERT of one alertKey are the same alert (same id, resource and event).
func TestFromIlertFields(t *testing.T) {
	c, err := alerta.FromEvent(ilertEvent(`{"integrationKey":"il1api-very-secret-key","eventType":"ALERT","summary":"Pump failure","details":"8.7 bar",`+
		`"alertKey":"M-100","priority":"HIGH","customDetails":{"site":"hall3","bar":8.7,"a.b$c":"x","nested":{"x":1},"list":[1],"ok":true,"apiKey":"il1api-other","IntegrationKey":"k"}}`),
		alerta.ConvertOptions{Environment: "Development", Event: "PumpAlarm", Origin: "gw-hall3", Service: []string{"Water"}, Timeout: 600})
	require.NoError(t, err)
	require.NotContains(t, string(c.Body), "il1api", "no ilert key reaches the alert")
	d := decodeAlert(t, c.Body)
	require.Equal(t, "Pump failure", d.Text)
	require.Equal(t, "8.7 bar", *d.Value)
	require.Equal(t, "PumpAlarm", d.Event)
	require.Equal(t, "Development", d.Environment)
	require.Equal(t, []string{"Water"}, d.Service)
	require.Equal(t, "gw-hall3", d.Origin)
	require.Equal(t, 600, d.Timeout)
	require.Equal(t, map[string]any{"site": "hall3", "bar": 8.7, "a_b_c": "x", "source": "plant", "topic": "ilert/events"}, d.Attributes)
	require.True(t, strings.Index(string(c.Body), `"site"`) < strings.Index(string(c.Body), `"bar"`), "customDetails order kept")

	r, err := alerta.FromEvent(ilertEvent(`{"eventType":"RESOLVE","alertKey":"M-100"}`), alerta.ConvertOptions{Environment: "Development", Event: "PumpAlarm"})
	require.NoError(t, err)
	dr := decodeAlert(t, r.Body)
	require.Equal(t, d.ID, dr.ID)
	require.Equal(t, alerta.DedupKey(d.Environment, d.Resource, d.Event, nil), alerta.DedupKey(dr.Environment, dr.Resource, dr.Event, nil))
	require.Equal(t, "normal", dr.Severity, "normal closes the alert")
	require.Equal(t, "resolved", dr.Text)

	// Deterministic: converting again gives the same bytes.
	again, err := alerta.FromEvent(ilertEvent(`{"eventType":"RESOLVE","alertKey":"M-100"}`), alerta.ConvertOptions{Environment: "Development", Event: "PumpAlarm"})
	require.NoError(t, err)
	require.Equal(t, r, again)

	// An ALERT without alertKey is an alert of its own, keyed by the event id.
	n, err := alerta.FromEvent(ilertEvent(`{"eventType":"ALERT","summary":"x"}`), alerta.ConvertOptions{})
	require.NoError(t, err)
	dn := decodeAlert(t, n.Body)
	require.Equal(t, "ilert/events", dn.Resource)
	require.Equal(t, alerta.NameUUID("event\x00ev-1"), dn.ID)
}

// TestFromAlertaBody: a JSON object shaped like an Alerta alert is validated as
// Alerta would, with the options as defaults.
func TestFromAlertaBody(t *testing.T) {
	e := ilertEvent(`{"resource":"web01","event":"HttpError","severity":"major","value":500,"text":"Site down"}`)
	c, err := alerta.FromEvent(e, alerta.ConvertOptions{})
	require.NoError(t, err)
	require.Equal(t, alerta.OpAlert, c.Op)
	d := decodeAlert(t, c.Body)
	require.Equal(t, "web01", d.Resource)
	require.Equal(t, "HttpError", d.Event)
	require.Equal(t, "major", d.Severity)
	require.Equal(t, "500", *d.Value)
	require.Equal(t, "Production", d.Environment, "filled from the options")
	require.Equal(t, []string{"plant"}, d.Service)
	require.Equal(t, c.ID, d.ID)
	require.Len(t, d.ID, 36)
	c2, err := alerta.FromEvent(e, alerta.ConvertOptions{})
	require.NoError(t, err)
	require.Equal(t, c.ID, c2.ID, "a retried event addresses the same alert")

	// Its own id, environment and service are kept.
	c, err = alerta.FromEvent(ilertEvent(`{"id":"b528c6f7-0925-4f6d-b930-fa6c0bba51dc","resource":"r","event":"e","environment":"Development","service":["S"]}`), alerta.ConvertOptions{})
	require.NoError(t, err)
	d = decodeAlert(t, c.Body)
	require.Equal(t, "b528c6f7-0925-4f6d-b930-fa6c0bba51dc", d.ID)
	require.Equal(t, "Development", d.Environment)
	require.Equal(t, []string{"S"}, d.Service)
	require.Equal(t, "normal", d.Severity, "Alerta's default")

	for _, bad := range []string{
		`{"resource":"r","event":"e","severity":"fatal"}`,
		`{"resource":"r","event":"e","timeout":"10"}`,
		`{"resource":"r","event":"e","attributes":{"a.b":1}}`,
		`{"resource":"r","event":"e","createTime":"2026-01-01T00:00:00Z"}`,
	} {
		_, err := alerta.FromEvent(ilertEvent(bad), alerta.ConvertOptions{})
		require.Error(t, err, bad)
		require.True(t, adapters.IsPermanent(err))
	}
}

// TestFromRaw: any other message becomes an alert on its topic.
func TestFromRaw(t *testing.T) {
	for _, tc := range []struct {
		name     string
		e        adapters.Event
		opts     alerta.ConvertOptions
		resource string
		severity string
		text     string
		attrs    map[string]any
	}{
		{name: "text", e: adapters.Event{ID: "e1", Kind: adapters.KindRaw, Source: "plant", Topic: "sensors/pump3", Payload: []byte("pressure high")},
			resource: "sensors/pump3", severity: "warning", text: "pressure high", attrs: map[string]any{"topic": "sensors/pump3", "source": "plant"}},
		{name: "json severity", e: adapters.Event{ID: "e2", Kind: adapters.KindRaw, Source: "plant", Topic: "t", Key: "p3", Payload: []byte(`{"severity":"Critical","bar":9}`)},
			resource: "t", severity: "critical", text: `{"severity":"Critical","bar":9}`, attrs: map[string]any{"topic": "t", "source": "plant", "key": "p3"}},
		{name: "invalid severity", e: adapters.Event{ID: "e3", Kind: adapters.KindRaw, Source: "plant", Payload: []byte(`{"severity":"bad"}`)},
			opts: alerta.ConvertOptions{Severity: "minor"}, resource: "plant", severity: "minor", text: `{"severity":"bad"}`, attrs: map[string]any{"source": "plant"}},
		{name: "binary", e: adapters.Event{ID: "e4", Kind: adapters.KindRaw, Source: "k", Topic: "bin", Payload: []byte{0xff, 0xfe, 0}},
			resource: "bin", severity: "warning", text: "binary payload of 3 bytes", attrs: map[string]any{"topic": "bin", "source": "k"}},
		{name: "long", e: adapters.Event{ID: "e5", Kind: adapters.KindRaw, Source: "k", Topic: "t", Payload: []byte(strings.Repeat("€", 1000))},
			resource: "t", severity: "warning", text: strings.Repeat("€", 340) + "…", attrs: map[string]any{"topic": "t", "source": "k"}},
		{name: "ilert key in payload", e: adapters.Event{ID: "e6", Kind: adapters.KindRaw, Source: "k", Topic: "t", Payload: []byte(`{"apiKey":"il1api-x","eventType":"OTHER"}`)},
			resource: "t", severity: "warning", text: "payload of 41 bytes not shown: it carries an ilert key", attrs: map[string]any{"topic": "t", "source": "k"}},
		{name: "empty", e: adapters.Event{ID: "e7", Kind: adapters.KindRaw},
			resource: "edgerelay", severity: "warning", text: "", attrs: map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := alerta.FromEvent(&tc.e, tc.opts)
			require.NoError(t, err)
			require.Equal(t, alerta.OpAlert, c.Op)
			d := decodeAlert(t, c.Body)
			require.Equal(t, tc.resource, d.Resource)
			require.Equal(t, "edgerelay", d.Event)
			require.Equal(t, tc.severity, d.Severity)
			require.Equal(t, tc.text, d.Text)
			require.Equal(t, tc.attrs, d.Attributes)
			require.Equal(t, "Production", d.Environment)
			if tc.e.Key != "" {
				require.Equal(t, alerta.NameUUID("raw\x00"+tc.e.Source+"\x00"+tc.resource+"\x00"+tc.e.Key), d.ID)
			} else {
				require.Equal(t, alerta.NameUUID("event\x00"+tc.e.ID), d.ID)
			}
		})
	}
	// A long topic is bounded, and two long topics stay two resources.
	long := strings.Repeat("t/", 200)
	a, _ := alerta.FromEvent(&adapters.Event{ID: "x", Topic: long + "a"}, alerta.ConvertOptions{})
	b, _ := alerta.FromEvent(&adapters.Event{ID: "x", Topic: long + "b"}, alerta.ConvertOptions{})
	da, db := decodeAlert(t, a.Body), decodeAlert(t, b.Body)
	require.LessOrEqual(t, len(da.Resource), 255)
	require.NotEqual(t, da.Resource, db.Resource)
}

// TestFromEventHeartbeatPolicyFederation: heartbeats, policy updates and the
// federation's own events.
func TestFromEventHeartbeatPolicyFederation(t *testing.T) {
	hb := &adapters.Event{ID: "h", Kind: adapters.KindHeartbeat, Key: "il1hbt-secret-heartbeat-key", Source: "plant",
		Topic: "ilert/heartbeats", Payload: []byte(`{"apiKey":"il1hbt-secret-heartbeat-key"}`), Received: received}
	c, err := alerta.FromEvent(hb, alerta.ConvertOptions{})
	require.NoError(t, err)
	require.Equal(t, alerta.OpHeartbeat, c.Op)
	require.Empty(t, c.ID)
	require.NotContains(t, string(c.Body), "il1hbt", "the heartbeat key stays out")
	h, aerr := alerta.DecodeHeartbeat(c.Body, alerta.Defaults{})
	require.Nil(t, aerr)
	require.Equal(t, "plant", h.Origin)
	require.Equal(t, received.Truncate(time.Millisecond), h.CreateTime)
	c, err = alerta.FromEvent(hb, alerta.ConvertOptions{Origin: "gw-hall3", Timeout: 120})
	require.NoError(t, err)
	h, _ = alerta.DecodeHeartbeat(c.Body, alerta.Defaults{})
	require.Equal(t, "gw-hall3", h.Origin)
	require.Equal(t, 120, h.Timeout)

	c, err = alerta.FromEvent(&adapters.Event{Kind: adapters.KindPolicy, Payload: []byte(`{}`)}, alerta.ConvertOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, c.Skip)

	_, err = alerta.FromEvent(&adapters.Event{Kind: adapters.KindAlert, Attrs: map[string]string{alerta.AttrOp: alerta.OpAlert}}, alerta.ConvertOptions{})
	require.ErrorIs(t, err, alerta.ErrFederationEvent)
}

// TestFromEventNoKeyLeak: an attacker's ilert event stuffed with the integration
// key, in the clear and in base64, in every field the conversion reads: the key it
// names in integrationKey never reaches the body, and errors do not carry it.
func TestFromEventNoKeyLeak(t *testing.T) {
	const key = "il1api-0460d849fcdc753d4f-attack"
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	body := `{"integrationKey":"` + key + `","apiKey":"` + key + `","eventType":"ALERT","summary":"s","alertKey":"k",` +
		`"customDetails":{"integrationKey":"` + key + `","APIKEY":"` + b64 + `","integration.Key":"` + key + `"}}`
	c, err := alerta.FromEvent(ilertEvent(body), alerta.ConvertOptions{})
	require.NoError(t, err)
	require.NotContains(t, string(c.Body), key[:20])
	require.NotContains(t, string(c.Body), b64)
	// An Alerta-shaped body: the key in any field it passes on, and a key named
	// in its attributes.
	for _, body := range []string{
		`{"integrationKey":"` + key + `","resource":"r","event":"e","tags":["` + key + `"],"service":["` + key + `"],` +
			`"rawData":"` + key + `","group":"` + key + `","attributes":{"note":"` + key + `","nested":{"k":"` + b64 + `"}}}`,
		`{"resource":"r","event":"e","text":"` + key + `","attributes":{"apiKey":"` + key + `","ok":1}}`,
	} {
		c, err = alerta.FromEvent(ilertEvent(body), alerta.ConvertOptions{})
		require.NoError(t, err)
		require.NotContains(t, string(c.Body), key[:20])
		require.NotContains(t, string(c.Body), b64)
		require.NotContains(t, string(c.Body), "apiKey")
	}
	require.Contains(t, string(c.Body), `"attributes": {"ok": 1}`)
	_, err = alerta.FromEvent(ilertEvent(`{"integrationKey":"`+key+`","eventType":"ALERT","summary":["`+key+`"]}`), alerta.ConvertOptions{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), key)
	_, err = alerta.FromEvent(ilertEvent(`{"integrationKey":"`+key+`","resource":"r","event":"e","severity":"`+key+`"}`), alerta.ConvertOptions{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), key[:20], "not even a severity echo: %v", err)
}

// TestNameUUID: version 5, variant RFC 4122, deterministic.
func TestNameUUID(t *testing.T) {
	u := alerta.NameUUID("ilert\x00M-100")
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, u)
	require.Equal(t, u, alerta.NameUUID("ilert\x00M-100"))
	require.NotEqual(t, u, alerta.NameUUID("ilert\x00M-101"))
}

// TestIlertCopies holds the ilert package's copies of the federation's names and
// of DedupKey equal to the originals (ilert must not import this package).
func TestIlertCopies(t *testing.T) {
	require.Equal(t, alerta.AttrOp, ilert.AlertaAttrOp)
	require.Equal(t, alerta.AttrID, ilert.AlertaAttrID)
	require.Equal(t, alerta.AttrDedup, ilert.AlertaAttrDedup)
	require.Equal(t, alerta.AttrResend, ilert.AlertaAttrResend)
	require.Equal(t, alerta.OpAlert, ilert.AlertaOpAlert)
	require.Equal(t, alerta.OpAction, ilert.AlertaOpAction)
	require.Equal(t, alerta.OpDelete, ilert.AlertaOpDelete)
	require.Equal(t, alerta.OpHeartbeat, ilert.AlertaOpHeartbeat)
	cust := "acme"
	for _, c := range []*string{nil, &cust} {
		require.Equal(t, alerta.DedupKey("Production", "web01", "HttpError", c), ilert.AlertaDedupKey("Production", "web01", "HttpError", c))
	}
}

// TestFromAlertaBodyEmptyResource: an Alerta-shaped body with an empty resource is
// refused with Alerta's message, not taken for a raw message.
func TestFromAlertaBodyEmptyResource(t *testing.T) {
	_, err := alerta.FromEvent(ilertEvent(`{"resource":"","event":"e"}`), alerta.ConvertOptions{})
	require.Error(t, err)
	require.Contains(t, err.Error(), `Missing mandatory value for "resource"`)
}

// FuzzFromEvent: whatever the payload, FromEvent does not panic, and what it
// returns is either a skip, a permanent error, or a body the receiving side
// accepts (DecodeAlert, DecodeAction, DecodeHeartbeat), within a few KiB of bounds.
func FuzzFromEvent(f *testing.F) {
	for _, s := range []string{
		`{"eventType":"ALERT","summary":"s","details":"d","alertKey":"k","priority":"HIGH","customDetails":{"a":1,"b":"x"}}`,
		`{"eventType":"ACCEPT","alertKey":"k"}`, `{"eventType":"RESOLVE","alertKey":"k"}`,
		`{"resource":"r","event":"e","severity":"major","attributes":{"x":[1]}}`,
		`{"severity":"critical"}`, `plain text`, "\xff\xfe", `[1,2]`, ``,
	} {
		f.Add(s, "t/x", "key", false)
	}
	f.Fuzz(func(t *testing.T, payload, topic, key string, heartbeat bool) {
		e := &adapters.Event{ID: "f", Kind: adapters.KindAlert, Key: key, Source: "src", Topic: topic, Payload: []byte(payload)}
		if heartbeat {
			e.Kind = adapters.KindHeartbeat
		}
		c, err := alerta.FromEvent(e, alerta.ConvertOptions{})
		if err != nil {
			require.True(t, adapters.IsPermanent(err))
			return
		}
		if c.Skip != "" {
			return
		}
		switch c.Op {
		case alerta.OpAlert:
			_, aerr := alerta.DecodeAlert(c.Body, alerta.Defaults{})
			require.Nil(t, aerr, "%s", c.Body)
			if !json.Valid([]byte(payload)) || !strings.Contains(payload, `"resource"`) {
				require.Less(t, len(c.Body), 64<<10, "a converted body stays bounded")
			}
		case alerta.OpAction:
			_, aerr := alerta.DecodeAction(c.Body)
			require.Nil(t, aerr)
			_, aerr = alerta.DecodeAlert(c.Resend, alerta.Defaults{})
			require.Nil(t, aerr)
		case alerta.OpHeartbeat:
			_, aerr := alerta.DecodeHeartbeat(c.Body, alerta.Defaults{})
			require.Nil(t, aerr)
		default:
			t.Fatalf("op %q", c.Op)
		}
	})
}

func TestConvertOptionsValidate(t *testing.T) {
	require.NoError(t, alerta.ConvertOptions{}.Validate())
	require.NoError(t, alerta.ConvertOptions{Severity: "Major", Timeout: 60, Service: []string{"a"}}.Validate())
	err := alerta.ConvertOptions{Severity: "fatal", Timeout: -1, Service: []string{""}}.Validate()
	require.Error(t, err)
	for _, k := range []string{"convert.severity", "convert.timeout", "convert.service"} {
		require.Contains(t, err.Error(), k)
	}
}

// TestConvertOptionsYAML: the convert: section of convert.md decodes strictly into
// ConvertOptions.
func TestConvertOptionsYAML(t *testing.T) {
	var cfg struct {
		Convert alerta.ConvertOptions `yaml:"convert"`
	}
	dec := yaml.NewDecoder(strings.NewReader("convert:\n  environment: Development\n  origin: gw-hall3\n  event: Alarm\n" +
		"  severity: minor\n  service: [plant]\n  timeout: 600\n"))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&cfg))
	require.Equal(t, alerta.ConvertOptions{Environment: "Development", Origin: "gw-hall3", Event: "Alarm", Severity: "minor",
		Service: []string{"plant"}, Timeout: 600}, cfg.Convert)
	dec = yaml.NewDecoder(strings.NewReader("convert:\n  now: 2026-01-01T00:00:00Z\n"))
	dec.KnownFields(true)
	require.Error(t, dec.Decode(&cfg), "now is not a key")
}

// TestFromAlertaBodyKeys: an Alerta-shaped body carrying an ilert key, at the top
// level or in its attributes, loses it.
func TestFromAlertaBodyKeys(t *testing.T) {
	const key = "il1api-0460d849fcdc753d4f-attack"
	c, err := alerta.FromEvent(ilertEvent(`{"apiKey":"`+key+`","resource":"r","event":"e","text":"`+key+`",`+
		`"attributes":{"site":"hall3","integrationKey":"`+key+`","note":"`+key+`","n":{"x":1}}}`), alerta.ConvertOptions{})
	require.NoError(t, err)
	require.NotContains(t, string(c.Body), key[:20])
	d := decodeAlert(t, c.Body)
	require.Equal(t, map[string]any{"site": "hall3", "note": "***", "n": map[string]any{"x": 1.0}}, d.Attributes)
	require.Equal(t, "***", d.Text)
}

// TestFromAlertaBodyEscapedKey: an ilert key written with JSON escapes (a
// non-ASCII letter as \u00e9, a quote as \"), at the top level or nested in the
// attributes' arrays and objects, is found by its decoded value and redacted from
// every attribute at every depth; members named like a key are dropped at every
// depth; a secret the configuration registered is redacted in nested values too.
// Numbers, booleans, null and the members' order are kept.
func TestFromAlertaBodyEscapedKey(t *testing.T) {
	t.Cleanup(secret.Default.Reset)
	const cfgSecret = "Cfg-Secret-9q8w7e6r5t"
	secret.Register(cfgSecret)
	const key = `il1api-caf\u00e9-\"quoted\"-0460d849fcdc`
	decoded := `il1api-café-"quoted"-0460d849fcdc`
	body := `{"apiKey":"` + key + `","resource":"r","event":"e","text":"plain",` +
		`"attributes":{"z":"` + key + `","list":["a","` + key + `",{"deep":"x ` + key + ` y","apiKey":"` + key + `"}],` +
		`"obj":{"integrationKey":"other-key-value","inner":{"s":"` + cfgSecret + `"},"n":1.50,"b":true,"nil":null},` +
		`"cfg":"` + cfgSecret + `","a":"keep"}}`
	require.True(t, json.Valid([]byte(body)))
	c, err := alerta.FromEvent(ilertEvent(body), alerta.ConvertOptions{})
	require.NoError(t, err)
	for _, leak := range []string{decoded, `caf\u00e9`, "café", `\"quoted\"`, "other-key-value", cfgSecret,
		base64.StdEncoding.EncodeToString([]byte(decoded))} {
		require.NotContains(t, string(c.Body), leak)
	}
	d := decodeAlert(t, c.Body)
	require.Equal(t, map[string]any{
		"z":    "***",
		"list": []any{"a", "***", map[string]any{"deep": "x *** y"}},
		"obj":  map[string]any{"inner": map[string]any{"s": "***"}, "n": 1.5, "b": true, "nil": nil},
		"cfg":  "***",
		"a":    "keep",
	}, d.Attributes)
	// The order of the members is the body's.
	attrs := string(c.Body[strings.Index(string(c.Body), `"attributes"`):])
	require.Less(t, strings.Index(attrs, `"z": `), strings.Index(attrs, `"list": `))
	require.Less(t, strings.Index(attrs, `"cfg": `), strings.Index(attrs, `"a": "keep"`))
}
