package ilert

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

// alertaBody is an alert body as Alerta's forwarder writes it (§2.1), with the
// severity and text given.
func alertaBody(severity, text string) string {
	return `{"id": "2f445c96-32f9-43b1-b090-27a77f47b1b1", "resource": "web01", "event": "HttpError", ` +
		`"environment": "Production", "severity": "` + severity + `", "correlate": ["HttpError", "HttpOK"], ` +
		`"service": ["Web"], "group": "Web", "value": "500", "text": "` + text + `", "tags": ["dc1"], ` +
		`"attributes": {"ip": "127.0.0.1", "region": "EU"}, "origin": "probe/1", "type": "exceptionAlert", ` +
		`"createTime": "2026-11-21T23:40:08.087Z", "timeout": 3600, "rawData": null, "customer": null}`
}

const testDedup = "Production|web01|HttpError"

func alertaEvent(op, payload string, attrs map[string]string) *adapters.Event {
	a := map[string]string{AlertaAttrOp: op, AlertaAttrID: "2f445c96-32f9-43b1-b090-27a77f47b1b1",
		AlertaAttrDedup: testDedup, "alerta.loop": "http://gw1:8977/alerta"}
	for k, v := range attrs {
		if v == "" {
			delete(a, k)
		} else {
			a[k] = v
		}
	}
	kind := adapters.KindAlert
	if op == AlertaOpHeartbeat {
		kind = adapters.KindHeartbeat
	}
	return &adapters.Event{ID: adapters.NewID(), Kind: kind, Key: a[AlertaAttrID], Payload: []byte(payload), Attrs: a}
}

// mapped is the part of a converted body the table checks.
type mapped struct {
	EventType string  `json:"eventType"`
	Summary   string  `json:"summary"`
	Details   *string `json:"details"`
	AlertKey  *string `json:"alertKey"`
	Priority  *string `json:"priority"`
}

// TestAlertaMapping is the table of README.md's "Alerta events" section.
func TestAlertaMapping(t *testing.T) {
	resend := map[string]string{AlertaAttrResend: alertaBody("major", "Site down")}
	for _, tc := range []struct {
		name    string
		op      string
		payload string
		attrs   map[string]string
		want    mapped // zero EventType: not sent
		skip    string // part of the skip reason
		err     string // part of the error
	}{
		{name: "security", op: "alert", payload: alertaBody("security", "x"), want: mapped{EventType: "ALERT", Priority: ptr("HIGH")}},
		{name: "critical", op: "alert", payload: alertaBody("critical", "x"), want: mapped{EventType: "ALERT", Priority: ptr("HIGH")}},
		{name: "major", op: "alert", payload: alertaBody("major", "x"), want: mapped{EventType: "ALERT", Priority: ptr("HIGH")}},
		{name: "minor", op: "alert", payload: alertaBody("minor", "x"), want: mapped{EventType: "ALERT", Priority: ptr("LOW")}},
		{name: "warning", op: "alert", payload: alertaBody("warning", "x"), want: mapped{EventType: "ALERT", Priority: ptr("LOW")}},
		{name: "indeterminate", op: "alert", payload: alertaBody("indeterminate", "x"), want: mapped{EventType: "ALERT", Priority: ptr("LOW")}},
		{name: "informational", op: "alert", payload: alertaBody("informational", "x"), want: mapped{EventType: "ALERT", Priority: ptr("LOW")}},
		{name: "normal", op: "alert", payload: alertaBody("normal", "x"), want: mapped{EventType: "RESOLVE"}},
		{name: "ok", op: "alert", payload: alertaBody("ok", "x"), want: mapped{EventType: "RESOLVE"}},
		{name: "cleared", op: "alert", payload: alertaBody("cleared", "x"), want: mapped{EventType: "RESOLVE"}},
		{name: "debug", op: "alert", payload: alertaBody("debug", "x"), skip: "severity debug"},
		{name: "trace", op: "alert", payload: alertaBody("trace", "x"), skip: "severity trace"},
		{name: "unknown", op: "alert", payload: alertaBody("unknown", "x"), skip: "severity unknown"},
		{name: "no severity is normal", op: "alert", payload: `{"resource": "web01", "event": "HttpError"}`, want: mapped{EventType: "RESOLVE"}},
		{name: "status closed", op: "alert", payload: strings.Replace(alertaBody("major", "x"), `"customer": null`, `"customer": null, "status": "closed"`, 1), want: mapped{EventType: "RESOLVE"}},
		{name: "status expired", op: "alert", payload: strings.Replace(alertaBody("debug", "x"), `"customer": null`, `"customer": null, "status": "expired"`, 1), want: mapped{EventType: "RESOLVE"}},
		{name: "status ack keeps the alert", op: "alert", payload: strings.Replace(alertaBody("minor", "x"), `"customer": null`, `"customer": null, "status": "ack"`, 1), want: mapped{EventType: "ALERT", Priority: ptr("LOW")}},
		{name: "bad severity", op: "alert", payload: alertaBody("fatal", "x"), err: `severity "fatal" is not an Alerta severity`},
		{name: "no resource", op: "alert", payload: `{"event": "e", "severity": "major"}`, err: `"resource"`},
		{name: "no event", op: "alert", payload: `{"resource": "r", "severity": "major"}`, err: `"event"`},
		{name: "not json", op: "alert", payload: `resource=web01`, err: "not valid JSON"},
		{name: "array", op: "alert", payload: `[1, 2]`, err: "not a JSON object"},
		{name: "wrong type", op: "alert", payload: `{"resource": "r", "event": "e", "service": "Web"}`, err: "field service"},
		{name: "empty", op: "alert", payload: ``, err: "empty payload"},

		{name: "action ack", op: "action", payload: `{"action": "ack", "text": "looking", "timeout": null}`, attrs: resend,
			want: mapped{EventType: "ACCEPT", Summary: "web01: HttpError - Site down", Details: ptr("looking")}},
		{name: "action close", op: "action", payload: `{"action": "close", "text": "fixed", "timeout": null}`, attrs: resend,
			want: mapped{EventType: "RESOLVE", Summary: "web01: HttpError - Site down", Details: ptr("fixed")}},
		{name: "action expired", op: "action", payload: `{"action": "expired", "text": "", "timeout": null}`, want: mapped{EventType: "RESOLVE", Summary: "Alerta alert 2f445c96-32f9-43b1-b090-27a77f47b1b1"}},
		{name: "action unack", op: "action", payload: `{"action": "unack", "text": "", "timeout": null}`, skip: "action \"unack\""},
		{name: "action open", op: "action", payload: `{"action": "open", "text": "", "timeout": null}`, skip: "action \"open\""},
		{name: "action shelve", op: "action", payload: `{"action": "shelve", "text": "", "timeout": 7200}`, skip: "action \"shelve\""},
		{name: "custom action", op: "action", payload: `{"action": "createIssue", "text": "", "timeout": null}`, skip: "no ilert equivalent"},
		{name: "action without action", op: "action", payload: `{"text": "x"}`, err: "no action"},
		{name: "action not json", op: "action", payload: `ack`, err: "not valid JSON"},
		{name: "action key from resend", op: "action", payload: `{"action": "ack", "text": "", "timeout": null}`,
			attrs: map[string]string{AlertaAttrDedup: "", AlertaAttrResend: alertaBody("major", "Site down")},
			want:  mapped{EventType: "ACCEPT", Summary: "web01: HttpError - Site down", Details: nil}},
		{name: "action without any key", op: "action", payload: `{"action": "ack", "text": "", "timeout": null}`,
			attrs: map[string]string{AlertaAttrDedup: ""}, err: "no alerta.dedup attribute"},
		{name: "action with a bad resend", op: "action", payload: `{"action": "ack", "text": "", "timeout": null}`,
			attrs: map[string]string{AlertaAttrResend: "{not json"}, want: mapped{EventType: "ACCEPT", Summary: "Alerta alert 2f445c96-32f9-43b1-b090-27a77f47b1b1"}},

		{name: "delete", op: "delete", payload: ``, attrs: resend, want: mapped{EventType: "RESOLVE", Summary: "web01: HttpError - Site down", Details: ptr("deleted in Alerta")}},
		{name: "delete without body", op: "delete", payload: ``, want: mapped{EventType: "RESOLVE", Summary: "Alerta alert 2f445c96-32f9-43b1-b090-27a77f47b1b1", Details: ptr("deleted in Alerta")}},
		{name: "heartbeat", op: "heartbeat", payload: `{"origin": "gw1", "tags": [], "attributes": {}, "timeout": 86400}`, skip: "per integration key"},
		{name: "bad op", op: "update", payload: `{}`, err: `alerta.op "update" is not`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := alertaEvent(tc.op, tc.payload, tc.attrs)
			body, skip, err := fromAlerta(e)
			if tc.err != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			if tc.skip != "" {
				require.Contains(t, skip, tc.skip)
				require.Nil(t, body)
				return
			}
			require.Empty(t, skip)
			_, err = CheckEvent(body)
			require.NoError(t, err, "the body passes the sink's own check")
			var got mapped
			require.NoError(t, json.Unmarshal(body, &got))
			require.Equal(t, tc.want.EventType, got.EventType)
			require.Equal(t, tc.want.Priority, got.Priority)
			require.NotNil(t, got.AlertKey)
			if _, ok := tc.attrs[AlertaAttrDedup]; !ok || tc.attrs[AlertaAttrDedup] != "" {
				require.Equal(t, testDedup, *got.AlertKey)
			}
			if tc.op == "alert" {
				return // summary and details: TestAlertaAlertFields
			}
			require.Equal(t, tc.want.Summary, got.Summary)
			require.Equal(t, tc.want.Details, got.Details)
		})
	}
}

// TestAlertaAlertFields: the summary, details and customDetails of an alert.
func TestAlertaAlertFields(t *testing.T) {
	body, skip, err := fromAlerta(alertaEvent("alert", alertaBody("major", "Site down"), nil))
	require.NoError(t, err)
	require.Empty(t, skip)
	require.JSONEq(t, `{"integrationKey": "", "eventType": "ALERT", "summary": "web01: HttpError - Site down",
		"details": "Site down\n\nValue: 500", "alertKey": "Production|web01|HttpError", "priority": "HIGH",
		"images": null, "links": null,
		"customDetails": {"id": "2f445c96-32f9-43b1-b090-27a77f47b1b1", "resource": "web01", "event": "HttpError",
			"environment": "Production", "severity": "major", "service": ["Web"], "group": "Web", "value": "500",
			"tags": ["dc1"], "attributes": {"ip": "127.0.0.1", "region": "EU"}, "origin": "probe/1",
			"type": "exceptionAlert"}}`, string(body))

	// A number value, a customer, no text, and a dedup key taken from the payload.
	body, _, err = fromAlerta(alertaEvent("alert", `{"resource": "pump3", "event": "Pressure", "severity": "minor", "value": 8.7, "customer": "acme"}`,
		map[string]string{AlertaAttrDedup: ""}))
	require.NoError(t, err)
	var got struct {
		mapped
		CustomDetails map[string]any `json:"customDetails"`
	}
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, "pump3: Pressure", got.Summary)
	require.Equal(t, "Value: 8.7", *got.Details)
	require.Equal(t, "|pump3|Pressure|acme", *got.AlertKey)
	require.Equal(t, "acme", got.CustomDetails["customer"])
	require.Equal(t, []any{}, got.CustomDetails["tags"])

	// No text and no value: details null.
	body, _, err = fromAlerta(alertaEvent("alert", `{"resource": "r", "event": "e", "severity": "major"}`, nil))
	require.NoError(t, err)
	got = struct {
		mapped
		CustomDetails map[string]any `json:"customDetails"`
	}{}
	require.NoError(t, json.Unmarshal(body, &got))
	require.Nil(t, got.Details)
	require.Equal(t, "r: e", got.Summary)
}

// TestAlertaFollowUpDetails: the customDetails of an action or a delete name the op,
// and for an action its name, with or without the alert's last body.
func TestAlertaFollowUpDetails(t *testing.T) {
	resend := map[string]string{AlertaAttrResend: alertaBody("major", "Site down")}
	for _, tc := range []struct {
		name, op, payload string
		attrs             map[string]string
		want              map[string]any
	}{
		{name: "action with body", op: "action", payload: `{"action": "ack", "text": "", "timeout": null}`, attrs: resend,
			want: map[string]any{"op": "action", "action": "ack", "resource": "web01"}},
		{name: "action without body", op: "action", payload: `{"action": "close", "text": "", "timeout": null}`,
			want: map[string]any{"op": "action", "action": "close", "id": "2f445c96-32f9-43b1-b090-27a77f47b1b1"}},
		{name: "delete with body", op: "delete", attrs: resend, want: map[string]any{"op": "delete", "resource": "web01"}},
		{name: "delete without body", op: "delete", want: map[string]any{"op": "delete", "id": "2f445c96-32f9-43b1-b090-27a77f47b1b1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, skip, err := fromAlerta(alertaEvent(tc.op, tc.payload, tc.attrs))
			require.NoError(t, err)
			require.Empty(t, skip)
			var got struct {
				CustomDetails map[string]any `json:"customDetails"`
			}
			require.NoError(t, json.Unmarshal(body, &got))
			for k, v := range tc.want {
				require.Equal(t, v, got.CustomDetails[k], k)
			}
			if tc.op == "delete" {
				require.NotContains(t, got.CustomDetails, "action")
			}
		})
	}
}

// TestAlertaBounds: long fields are cut, a long key is hashed, huge attributes are
// left out, and the body stays a valid, bounded ilert event.
func TestAlertaBounds(t *testing.T) {
	long := strings.Repeat("é", 3000) // two bytes each: cuts must keep characters whole
	var attrs bytes.Buffer
	attrs.WriteString(`{`)
	for i := range 2000 {
		if i > 0 {
			attrs.WriteString(", ")
		}
		attrs.WriteString(`"k` + strings.Repeat("x", 4) + string(rune('a'+i%26)) + `": "` + strings.Repeat("v", 8) + `"`)
	}
	attrs.WriteString(`}`)
	payload := `{"resource": "` + long + `", "event": "e\nwith a line break", "severity": "critical", "text": "` + long +
		`", "tags": ["` + long + `"], "attributes": ` + attrs.String() + `}`
	longKey := strings.Repeat("k", 400)
	body, _, err := fromAlerta(alertaEvent("alert", payload, map[string]string{AlertaAttrDedup: longKey}))
	require.NoError(t, err)
	_, err = CheckEvent(body)
	require.NoError(t, err)
	var got struct {
		mapped
		CustomDetails map[string]any `json:"customDetails"`
	}
	require.NoError(t, json.Unmarshal(body, &got))
	require.LessOrEqual(t, len(got.Summary), maxSummary)
	require.NotContains(t, got.Summary, "\n")
	require.True(t, strings.HasSuffix(got.Summary, "…"))
	require.LessOrEqual(t, len(*got.Details), maxDetails)
	require.LessOrEqual(t, len(*got.AlertKey), MaxAlertKey)
	require.Equal(t, BoundAlertKey(longKey), *got.AlertKey, "deterministic")
	require.NotEqual(t, BoundAlertKey(longKey+"x"), *got.AlertKey, "the hash covers the whole key")
	require.Contains(t, got.CustomDetails["attributes"], "omitted")
	raw, _ := json.Marshal(got.CustomDetails)
	require.LessOrEqual(t, len(raw), maxCustomDetails)
	require.Less(t, len(body), 16000, "inside ilagent's proxy limit too")
	for _, s := range []string{got.Summary, *got.Details, *got.AlertKey} {
		require.True(t, strings.ToValidUTF8(s, "?") == s, "cut at a character boundary")
	}
	require.Equal(t, "short", BoundAlertKey("short"))
	require.Len(t, BoundAlertKey(strings.Repeat("€", 200)), MaxAlertKey-1, "€ is three bytes: the cut keeps it whole")
}

// TestAlertaThroughSink: federation events reach the ilert fake through Send with the
// sink's integration key; events with no equivalent make no request and return nil;
// a bad payload is permanent and its error carries neither the key nor much of the
// payload.
func TestAlertaThroughSink(t *testing.T) {
	srv := ilerttest.NewServer(t)
	var logs bytes.Buffer
	d := testDeps()
	d.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := hostCfg(srv)
	cfg.IntegrationKey = "il1api-alerta-secret-key"
	s := newSink(t, cfg, d)
	ctx := context.Background()

	resend := map[string]string{AlertaAttrResend: alertaBody("major", "Site down")}
	require.NoError(t, s.Send(ctx, alertaEvent("alert", alertaBody("major", "Site down"), nil)))
	require.NoError(t, s.Send(ctx, alertaEvent("action", `{"action": "ack", "text": "looking", "timeout": null}`, resend)))
	require.NoError(t, s.Send(ctx, alertaEvent("action", `{"action": "shelve", "text": "", "timeout": null}`, resend)))
	require.NoError(t, s.Send(ctx, alertaEvent("heartbeat", `{"origin": "gw1", "tags": [], "attributes": {}, "timeout": 86400}`, nil)))
	require.NoError(t, s.Send(ctx, alertaEvent("delete", ``, resend)))

	evs := srv.Events()
	require.Len(t, evs, 3, "shelve and the heartbeat are not sent")
	var types []string
	for _, ev := range evs {
		var m mapped
		require.NoError(t, json.Unmarshal(ev.Body, &m))
		types = append(types, m.EventType)
		require.Equal(t, testDedup, *m.AlertKey, "one ilert alert for every op")
		require.Equal(t, `"il1api-alerta-secret-key"`, string(ev.Fields["integrationKey"]))
	}
	require.Equal(t, []string{"ALERT", "ACCEPT", "RESOLVE"}, types)
	require.Len(t, srv.Requests(), 3, "no request for what is not sent")
	require.Contains(t, logs.String(), "alerta event not sent to ilert")
	require.Contains(t, logs.String(), "shelve")

	// The original event is not changed (another sink may hold it).
	e := alertaEvent("alert", alertaBody("major", "x"), nil)
	kind, payload := e.Kind, string(e.Payload)
	require.NoError(t, s.Send(ctx, e))
	require.Equal(t, kind, e.Kind)
	require.Equal(t, payload, string(e.Payload))

	// A payload full of the key (an attacker echoing it back) is refused without the
	// key or its base64 in the error, and without a request.
	srv.Reset()
	key := string(cfg.IntegrationKey)
	hostile := `{"resource": "` + key + `", "event": "` + base64.StdEncoding.EncodeToString([]byte(key)) + `", "severity": "nonsense-` + key + `"}`
	err := s.Send(ctx, alertaEvent("alert", hostile, nil))
	require.True(t, adapters.IsPermanent(err), "error: %v", err)
	require.NotContains(t, err.Error(), key)
	require.NotContains(t, err.Error(), base64.StdEncoding.EncodeToString([]byte(key)))
	err = s.Send(ctx, alertaEvent("alert", "garbage "+key+strings.Repeat("x", 1000), nil))
	require.True(t, adapters.IsPermanent(err))
	require.NotContains(t, err.Error(), key)
	require.Less(t, len(err.Error()), 200, "a short excerpt at most")
	require.Empty(t, srv.Requests())
	require.NotContains(t, logs.String(), key)
}

// FuzzFromAlerta: whatever the payload and op, the conversion does not panic and
// gives a skip, an error, or a body the sink's own check accepts, bounded.
func FuzzFromAlerta(f *testing.F) {
	for _, s := range []string{alertaBody("major", "x"), `{"action": "ack", "text": "", "timeout": null}`, ``, `[1]`, `{"resource": 1}`} {
		f.Add("alert", s, alertaBody("minor", "y"), testDedup)
		f.Add("action", s, "", "")
	}
	f.Fuzz(func(t *testing.T, op, payload, resend, dedup string) {
		e := alertaEvent(op, payload, map[string]string{AlertaAttrResend: resend, AlertaAttrDedup: dedup})
		body, skip, err := fromAlerta(e)
		if err != nil || skip != "" {
			require.Nil(t, body)
			return
		}
		_, err = CheckEvent(body)
		require.NoError(t, err)
		if len(payload) < 16000 && len(resend) < 16000 {
			require.Less(t, len(body), 16000)
		}
	})
}
