package alerta

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/alerta/hawk"
)

// sample21 is §2.1's body, its lines joined.
const sample21 = `{"id": "2f445c96-32f9-43b1-b090-27a77f47b1b1", "resource": "web01", "event": "HttpError",` +
	` "environment": "Production", "severity": "major", "correlate": ["HttpError", "HttpOK"],` +
	` "service": ["Web"], "group": "Web", "value": "500", "text": "Site down", "tags": ["dc1"],` +
	` "attributes": {"ip": "127.0.0.1", "region": "EU"}, "origin": "probe/1", "type": "exceptionAlert",` +
	` "createTime": "2026-11-21T23:40:08.087Z", "timeout": 3600, "rawData": null, "customer": null}`

func ptr[T any](v T) *T { return &v }

func TestEncodeSample21(t *testing.T) {
	a := &Alert{
		ID: "2f445c96-32f9-43b1-b090-27a77f47b1b1", Resource: "web01", Event: "HttpError",
		Environment: "Production", Severity: "major", Correlate: []string{"HttpError", "HttpOK"},
		Service: []string{"Web"}, Group: "Web", Value: ptr("500"), Text: "Site down",
		Tags: []string{"dc1"}, Attributes: []byte(`{"ip":"127.0.0.1","region":"EU"}`),
		Origin: "probe/1", Type: "exceptionAlert",
		CreateTime: time.Date(2026, 11, 21, 23, 40, 8, 87_654_321, time.UTC), Timeout: 3600,
		Status: "open", // never sent
	}
	require.Equal(t, sample21, string(a.Encode()))

	// The sample decodes to the same alert and encodes back to the same bytes.
	d, e := DecodeAlert([]byte(sample21), Defaults{})
	require.Nil(t, e)
	require.Equal(t, sample21, string(d.Encode()))
	require.Equal(t, "", d.Status)
}

func TestHawkHashRow1(t *testing.T) {
	compact := `{"resource":"web01","event":"HttpError","environment":"Production","service":["Web"],"severity":"major"}`
	body, err := PyJSON([]byte(compact))
	require.NoError(t, err)
	require.Equal(t, `{"resource": "web01", "event": "HttpError", "environment": "Production", "service": ["Web"], "severity": "major"}`, string(body))
	h, err := hawk.PayloadHash("sha256", "application/json", body)
	require.NoError(t, err)
	require.Equal(t, "rP43Xs3RKnFF9QrTmrXGzaN8lAXrMKFrk5o08pWCOhs=", h)

	act := (&Action{Action: "ack", Text: "ack operator action"}).Encode()
	h, err = hawk.PayloadHash("sha256", "application/json", act)
	require.NoError(t, err)
	require.Equal(t, "9hdumuH6HQrxCRanMBeAQiwBtC8y1hmu/2TpEcOD5fY=", h)
}

func TestActionEncode(t *testing.T) {
	require.Equal(t, `{"action": "ack", "text": "looking", "timeout": null}`,
		string((&Action{Action: "ack", Text: "looking"}).Encode()))
	require.Equal(t, `{"action": "shelve", "text": "", "timeout": 600}`,
		string((&Action{Action: "shelve", Timeout: ptr(600)}).Encode()))
}

func TestPyJSON(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"spacing", `{"a":[1,2,{"b":null}],"c":true,"d":false}`, `{"a": [1, 2, {"b": null}], "c": true, "d": false}`},
		{"whitespace", " { \"a\" :\n[ ] , \"b\":{ } }\t", `{"a": [], "b": {}}`},
		{"key order kept", `{"z":1,"a":2,"m":3}`, `{"z": 1, "a": 2, "m": 3}`},
		{"duplicate key: first place, last value", `{"a":1,"b":2,"a":3}`, `{"a": 3, "b": 2}`},
		{"duplicate after escape", `{"a":1,"\u0061":2}`, `{"a": 2}`},
		{"nested duplicate", `{"x":{"k":1,"k":2},"x":{"k":3,"j":4,"k":5}}`, `{"x": {"k": 5, "j": 4}}`},
		{"non-ASCII", `"é€"`, `"\u00e9\u20ac"`},
		{"astral as surrogate pair", `"😀"`, `"\ud83d\ude00"`},
		{"escaped pair kept", `"\uD83D\uDE00"`, `"\ud83d\ude00"`},
		{"lone surrogate kept", `"a\ud800b"`, `"a\ud800b"`},
		{"lone low surrogate kept", `"\udc00\ud800"`, `"\udc00\ud800"`},
		{"escapes", `"\"\\\/\b\f\n\r\t\u0001\u001f\u007f"`, `"\"\\/\b\f\n\r\t\u0001\u001f\u007f"`},
		{"slash not escaped", `"a/b"`, `"a/b"`},
		{"html not escaped", `"\u003c&\u003e"`, `"<&>"`},
		{"integers", `[0,-0,12,-7,123456789012345678901234567890]`, `[0, 0, 12, -7, 123456789012345678901234567890]`},
		{"floats", `[1.0,1.5,-0.0,1e5,1E16,1e-5,0.0001,123.456e2,1e-400]`, `[1.0, 1.5, -0.0, 100000.0, 1e+16, 1e-05, 0.0001, 12345.6, 0.0]`},
		{"big float", `[1.7976931348623157e308, 5e-324]`, `[1.7976931348623157e+308, 5e-324]`},
		{"scalar", `"x"`, `"x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PyJSON([]byte(tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
			// The output is JSON that means the same.
			require.True(t, json.Valid(got), "got %s", got)
		})
	}
}

func TestPyJSONRejects(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	_, err := PyJSON([]byte(ok))
	require.NoError(t, err)
	for _, tc := range []struct{ name, in string }{
		{"empty", ``},
		{"too deep", deep},
		{"too deep objects", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)},
		{"too large", `"` + strings.Repeat("a", MaxBody) + `"`},
		{"trailing", `{} {}`},
		{"trailing comma", `[1,]`},
		{"open", `{"a":1`},
		{"NaN", `NaN`},
		{"Infinity", `[Infinity]`},
		{"overflow", `1e400`},
		{"leading zero", `01`},
		{"bare dot", `1.`},
		{"bad escape", `"\x"`},
		{"short unicode", `"\u12"`},
		{"raw control", "\"a\x01\""},
		{"invalid UTF-8", "\"\xff\""},
		{"single quotes", `{'a':1}`},
		{"unquoted key", `{a:1}`},
		{"truncated literal", `tru`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PyJSON([]byte(tc.in))
			require.Error(t, err)
			require.Less(t, len(err.Error()), 200, "errors never echo the input")
		})
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-11-21T23:40:08.087Z", time.Date(2026, 11, 21, 23, 40, 8, 87e6, time.UTC), true},
		{"2026-11-21T23:40:08.0Z", time.Date(2026, 11, 21, 23, 40, 8, 0, time.UTC), true},
		{"2026-11-21T23:40:08.5Z", time.Date(2026, 11, 21, 23, 40, 8, 5e8, time.UTC), true},
		{"2026-11-21T23:40:08.123456Z", time.Date(2026, 11, 21, 23, 40, 8, 123456e3, time.UTC), true},
		{"2024-02-29T00:00:00.000Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"2026-11-21T23:40:08Z", time.Time{}, false},
		{"2026-11-21T23:40:08.Z", time.Time{}, false},
		{"2026-11-21T23:40:08.1234567Z", time.Time{}, false},
		{"2026-11-21T23:40:08.087+00:00", time.Time{}, false},
		{"2026-11-21T23:40:08.087", time.Time{}, false},
		{"2026-11-21 23:40:08.087Z", time.Time{}, false},
		{"2026-1-21T23:40:08.087Z", time.Time{}, false},
		{"2026-13-21T23:40:08.087Z", time.Time{}, false},
		{"2026-02-30T23:40:08.087Z", time.Time{}, false},
		{"2026-11-21T24:00:00.000Z", time.Time{}, false},
		{"2026-11-21T23:60:00.000Z", time.Time{}, false},
		{"2026-11-21T23:59:60.000Z", time.Time{}, false},
		{"0000-01-01T00:00:00.000Z", time.Time{}, false},
		{"2026-11-21T23:40:08.08aZ", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTime(tc.in)
			if !tc.ok {
				require.EqualError(t, err, "dates must be ISO 8601 date format YYYY-MM-DDThh:mm:ss.sssZ")
				return
			}
			require.NoError(t, err)
			require.True(t, tc.want.Equal(got), "got %v", got)
		})
	}
	require.Equal(t, "2026-01-02T03:04:05.678Z", FormatTime(time.Date(2026, 1, 2, 4, 4, 5, 678_999_999, time.FixedZone("CET", 3600))))
	require.Equal(t, "2026-01-02T03:04:05.000Z", FormatTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
}

var fixedNow = time.Date(2026, 11, 21, 23, 40, 8, 87e6, time.UTC)

func defaults() Defaults {
	return Defaults{Origin: "edgerelay/gw1", Now: fixedNow, NewID: func() string { return "new-id" }}
}

func TestDecodeAlertDefaults(t *testing.T) {
	a, e := DecodeAlert([]byte(`{"resource":"web01","event":"HttpError"}`), defaults())
	require.Nil(t, e)
	require.Equal(t, &Alert{
		ID: "new-id", Resource: "web01", Event: "HttpError", Environment: "", Severity: "normal",
		Correlate: []string{}, Service: []string{}, Group: "Misc", Text: "", Tags: []string{},
		Attributes: []byte("{}"), Origin: "edgerelay/gw1", Type: "exceptionAlert",
		CreateTime: fixedNow, Timeout: DefaultTimeout,
	}, a)
	require.Equal(t, `{"id": "new-id", "resource": "web01", "event": "HttpError", "environment": "", "severity": "normal",`+
		` "correlate": [], "service": [], "group": "Misc", "value": null, "text": "", "tags": [], "attributes": {},`+
		` "origin": "edgerelay/gw1", "type": "exceptionAlert", "createTime": "2026-11-21T23:40:08.087Z",`+
		` "timeout": 86400, "rawData": null, "customer": null}`, string(a.Encode()))

	// Empty strings take the defaults too ("x or default" in Alerta).
	a, e = DecodeAlert([]byte(`{"resource":"r","event":"e","id":"","severity":"","group":"","type":"","origin":"","environment":null,"text":null}`),
		Defaults{Timeout: 60})
	require.Nil(t, e)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), a.ID)
	require.Equal(t, "normal", a.Severity)
	require.Equal(t, "Misc", a.Group)
	require.Equal(t, "exceptionAlert", a.Type)
	require.True(t, strings.HasPrefix(a.Origin, "edgerelay/"))
	require.Equal(t, 60, a.Timeout)
	require.False(t, a.CreateTime.IsZero())
}

func TestDecodeAlertFields(t *testing.T) {
	a, e := DecodeAlert([]byte(`{"resource":"r","event":"e","correlate":["x"],"value":42,"status":"ack",`+
		`"timeout":0,"customer":"acme","rawData":"raw","attributes":{"b":1,"a":{"c.d":"é"}},`+
		`"href":"http://x/alert/1","history":[{"a":1}],"duplicateCount":3,"repeat":true,"unknown":{"x":[1,2]},`+
		`"createTime":"2026-01-02T03:04:05.678901Z"}`), defaults())
	require.Nil(t, e)
	require.Equal(t, []string{"x", "e"}, a.Correlate)
	require.Equal(t, "42", *a.Value)
	require.Equal(t, "ack", a.Status)
	require.Equal(t, 0, a.Timeout)
	require.Equal(t, "acme", *a.Customer)
	require.Equal(t, "raw", *a.RawData)
	require.Equal(t, `{"b":1,"a":{"c.d":"\u00e9"}}`, string(a.Attributes))
	require.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 678901e3, time.UTC), a.CreateTime)
	require.Contains(t, string(a.Encode()), `"attributes": {"b": 1, "a": {"c.d": "\u00e9"}}`)
	require.Contains(t, string(a.Encode()), `"createTime": "2026-01-02T03:04:05.678Z"`)

	for _, v := range []struct{ in, want string }{{`-5`, "-5"}, {`-0`, "0"}, {`"abc"`, "abc"}, {`0`, "0"}} {
		a, e = DecodeAlert([]byte(`{"resource":"r","event":"e","value":`+v.in+`}`), defaults())
		require.Nil(t, e)
		require.Equal(t, v.want, *a.Value)
	}
	a, e = DecodeAlert([]byte(`{"resource":"r","event":"e","value":null,"correlate":["e","x"]}`), defaults())
	require.Nil(t, e)
	require.Nil(t, a.Value)
	require.Equal(t, []string{"e", "x"}, a.Correlate)

	// Whitespace around values is no problem.
	a, e = DecodeAlert([]byte(" { \"resource\" : \"r\" ,\n\"event\":\"e\", \"value\" : 42 , \"timeout\" :\t5 , \"attributes\" : { \"a\" : [ 1 ] } } "), defaults())
	require.Nil(t, e)
	require.Equal(t, "42", *a.Value)
	require.Equal(t, 5, a.Timeout)
	require.Equal(t, `{"a":[1]}`, string(a.Attributes))

	// The last of duplicate keys wins, as in json.loads.
	a, e = DecodeAlert([]byte(`{"resource":"r1","event":"e","resource":"r2"}`), defaults())
	require.Nil(t, e)
	require.Equal(t, "r2", a.Resource)
}

func TestDecodeAlertErrors(t *testing.T) {
	sev := "Severity (bogus) is not one of security, critical, major, minor, warning, indeterminate, informational, normal, ok, cleared, debug, trace, unknown"
	for _, tc := range []struct {
		name, body string
		code       int
		msg        string
	}{
		{"no resource", `{"event":"e"}`, 400, `Missing mandatory value for "resource"`},
		{"empty resource", `{"resource":"","event":"e"}`, 400, `Missing mandatory value for "resource"`},
		{"null resource", `{"resource":null,"event":"e"}`, 400, `Missing mandatory value for "resource"`},
		{"no event", `{"resource":"r"}`, 400, `Missing mandatory value for "event"`},
		{"number resource", `{"resource":5,"event":"e"}`, 400, `resource must be a string`},
		{"service not a list", `{"resource":"r","event":"e","service":"Web"}`, 400, `service must be a list`},
		{"service null", `{"resource":"r","event":"e","service":null}`, 400, `service must be a list`},
		{"service of numbers", `{"resource":"r","event":"e","service":[1]}`, 400, `service must be a list of strings`},
		{"correlate not a list", `{"resource":"r","event":"e","correlate":{}}`, 400, `correlate must be a list`},
		{"tags not a list", `{"resource":"r","event":"e","tags":"a"}`, 400, `tags must be a list`},
		{"attributes not an object", `{"resource":"r","event":"e","attributes":[]}`, 400, `attributes must be a JSON object`},
		{"attributes null", `{"resource":"r","event":"e","attributes":null}`, 400, `attributes must be a JSON object`},
		{"attribute key with dot", `{"resource":"r","event":"e","attributes":{"a.b":1}}`, 400, `Attribute keys must not contain "." or "$"`},
		{"attribute key with dollar", `{"resource":"r","event":"e","attributes":{"$set":1}}`, 400, `Attribute keys must not contain "." or "$"`},
		{"timeout string", `{"resource":"r","event":"e","timeout":"60"}`, 400, `timeout must be an integer`},
		{"timeout float", `{"resource":"r","event":"e","timeout":60.5}`, 400, `timeout must be an integer`},
		{"timeout exp", `{"resource":"r","event":"e","timeout":6e1}`, 400, `timeout must be an integer`},
		{"timeout bool", `{"resource":"r","event":"e","timeout":true}`, 400, `timeout must be an integer`},
		{"timeout huge", `{"resource":"r","event":"e","timeout":99999999999999999999}`, 400, `timeout must be an integer`},
		{"timeout negative", `{"resource":"r","event":"e","timeout":-1}`, 400, `Invalid negative 'timeout' value (-1)`},
		{"customer empty", `{"resource":"r","event":"e","customer":""}`, 400, `customer must not be an empty string`},
		{"createTime no fraction", `{"resource":"r","event":"e","createTime":"2026-01-02T03:04:05Z"}`, 400, `dates must be ISO 8601 date format YYYY-MM-DDThh:mm:ss.sssZ`},
		{"createTime offset", `{"resource":"r","event":"e","createTime":"2026-01-02T03:04:05.000+00:00"}`, 400, `dates must be ISO 8601 date format YYYY-MM-DDThh:mm:ss.sssZ`},
		{"createTime number", `{"resource":"r","event":"e","createTime":5}`, 400, `dates must be ISO 8601 date format YYYY-MM-DDThh:mm:ss.sssZ`},
		{"value float", `{"resource":"r","event":"e","value":1.5}`, 400, `value must be a string`},
		{"value object", `{"resource":"r","event":"e","value":{}}`, 400, `value must be a string`},
		{"rawData object", `{"resource":"r","event":"e","rawData":{}}`, 400, `rawData must be a string`},
		{"status number", `{"resource":"r","event":"e","status":1}`, 400, `status must be a string`},
		{"bad severity", `{"resource":"r","event":"e","severity":"bogus"}`, 500, sev},
		{"long severity", `{"resource":"r","event":"e","severity":"` + strings.Repeat("é", 40) + `"}`, 500,
			strings.Replace(sev, "bogus", strings.Repeat("é", 32)+"…", 1)},
		{"severity case", `{"resource":"r","event":"e","severity":"Major"}`, 500, strings.Replace(sev, "bogus", "Major", 1)},
		{"list body", `[{"resource":"r","event":"e"}]`, 400, `Failed to decode JSON object: the body must be a JSON object`},
		{"string body", `"x"`, 400, `Failed to decode JSON object: the body must be a JSON object`},
		{"empty body", ``, 400, `Failed to decode JSON object: invalid JSON at offset 0: unexpected end of input`},
		{"broken body", `{"resource":`, 400, `Failed to decode JSON object: invalid JSON at offset 12: unexpected end of input`},
		{"invalid UTF-8", "{\"resource\":\"\xff\",\"event\":\"e\"}", 400, `Failed to decode JSON object: JSON text is not valid UTF-8`},
		{"too deep", `{"resource":"r","event":"e","x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, 400, `Failed to decode JSON object: JSON nested deeper than 64 levels`},
		// Alerta's order: the list checks come before the mandatory values.
		{"order", `{"service":"x"}`, 400, `service must be a list`},
		{"order 2", `{"createTime":"x"}`, 400, `dates must be ISO 8601 date format YYYY-MM-DDThh:mm:ss.sssZ`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, e := DecodeAlert([]byte(tc.body), defaults())
			require.Nil(t, a)
			require.NotNil(t, e)
			require.Equal(t, tc.code, e.Code)
			require.Equal(t, tc.msg, e.Message)
		})
	}
}

func TestDecodeAction(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       *Action
		msg        string
	}{
		{"full", `{"action":"ack","text":"looking","timeout":300}`, &Action{Action: "ack", Text: "looking", Timeout: ptr(300)}, ""},
		{"no text", `{"action":"ack"}`, &Action{Action: "ack", Text: "ack operator action"}, ""},
		{"null text", `{"action":"ack","text":null,"timeout":null}`, &Action{Action: "ack"}, ""},
		{"custom", `{"action":"createIssue","text":""}`, &Action{Action: "createIssue"}, ""},
		{"missing", `{"text":"x"}`, nil, "must supply 'action' as json data"},
		{"empty", `{"action":""}`, nil, "must supply 'action' as json data"},
		{"number", `{"action":1}`, nil, "must supply 'action' as json data"},
		{"not an object", `["ack"]`, nil, "must supply 'action' as json data"},
		{"not JSON", `action=ack`, nil, "must supply 'action' as json data"},
		{"control char", `{"action":"a\nb"}`, nil, "action must be at most 64 bytes without control characters"},
		{"too long", `{"action":"` + strings.Repeat("a", 65) + `"}`, nil, "action must be at most 64 bytes without control characters"},
		{"text number", `{"action":"ack","text":1}`, nil, "text must be a string"},
		{"timeout string", `{"action":"ack","timeout":"1"}`, nil, "timeout must be an integer"},
		{"timeout negative", `{"action":"ack","timeout":-1}`, nil, "Invalid negative 'timeout' value (-1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, e := DecodeAction([]byte(tc.body))
			if tc.msg != "" {
				require.Nil(t, a)
				require.Equal(t, 400, e.Code)
				require.Equal(t, tc.msg, e.Message)
				return
			}
			require.Nil(t, e)
			require.Equal(t, tc.want, a)
			b, e := DecodeAction(a.Encode())
			require.Nil(t, e)
			require.Equal(t, a, b)
		})
	}
}

func TestHeartbeat(t *testing.T) {
	h, e := DecodeHeartbeat([]byte(`{"origin":"gw1/edgerelay","tags":["a"],"attributes":{"x":"y"},"timeout":120,`+
		`"createTime":"2026-01-02T03:04:05.678Z","customer":"acme","type":"Heartbeat"}`), defaults())
	require.Nil(t, e)
	require.Equal(t, &Heartbeat{Origin: "gw1/edgerelay", Tags: []string{"a"}, Attributes: []byte(`{"x":"y"}`), Timeout: 120,
		CreateTime: time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC), Customer: ptr("acme")}, h)
	require.Equal(t, `{"origin": "gw1/edgerelay", "tags": ["a"], "attributes": {"x": "y"}, "timeout": 120, `+
		`"createTime": "2026-01-02T03:04:05.678Z", "customer": "acme"}`, string(h.Encode()))
	h.ID = "hb1"
	h2, e := DecodeHeartbeat(h.Encode(), defaults())
	require.Nil(t, e)
	require.Equal(t, h, h2)

	h, e = DecodeHeartbeat([]byte(`{}`), defaults())
	require.Nil(t, e)
	require.Equal(t, &Heartbeat{Origin: "edgerelay/gw1", Tags: []string{}, Attributes: []byte("{}"), Timeout: DefaultTimeout, CreateTime: fixedNow}, h)
	require.Equal(t, `{"origin": "edgerelay/gw1", "tags": [], "attributes": {}, "timeout": 86400, `+
		`"createTime": "2026-11-21T23:40:08.087Z", "customer": null}`, string(h.Encode()))

	for body, msg := range map[string]string{
		`{"tags":"a"}`:                "tags must be a list",
		`{"timeout":"1"}`:             "timeout must be an integer",
		`{"attributes":[]}`:           "attributes must be a JSON object",
		`{"attributes":{"a$":1}}`:     `Attribute keys must not contain "." or "$"`,
		`{"customer":""}`:             "customer must not be an empty string",
		`{"createTime":"2026-01-02"}`: "dates must be ISO 8601 date format YYYY-MM-DDThh:mm:ss.sssZ",
		`[]`:                          "Failed to decode JSON object: the body must be a JSON object",
		`{"origin":["a"]}`:            "origin must be a string",
		`{"timeout":-5}`:              "Invalid negative 'timeout' value (-5)",
	} {
		_, e := DecodeHeartbeat([]byte(body), defaults())
		require.NotNil(t, e, body)
		require.Equal(t, 400, e.Code, body)
		require.Equal(t, msg, e.Message, body)
	}
}

func TestErrorBody(t *testing.T) {
	got := ErrorBody(&Error{Code: 400, Message: `Missing mandatory value for "resource"`}, "4f0c-é")
	require.Equal(t, `{"code": 400, "errors": null, "message": "Missing mandatory value for \"resource\"", "requestId": "4f0c-\u00e9", "status": "error"}`, string(got))
	var m map[string]any
	require.NoError(t, json.Unmarshal(got, &m))
	require.Equal(t, "4f0c-é", m["requestId"])

	// PyJSON of a sorted map gives the same form for other answers.
	b, err := json.Marshal(map[string]any{"status": "ok", "message": "Alert forwarded by (unknown) already processed by http://a<b>"})
	require.NoError(t, err)
	b, err = PyJSON(b)
	require.NoError(t, err)
	require.Equal(t, `{"message": "Alert forwarded by (unknown) already processed by http://a<b>", "status": "ok"}`, string(b))
}

func TestSeverities(t *testing.T) {
	require.Len(t, Severities(), 13)
	for name, code := range map[string]int{"security": 0, "critical": 1, "major": 2, "minor": 3, "warning": 4,
		"indeterminate": 5, "informational": 6, "normal": 7, "ok": 7, "cleared": 7, "debug": 8, "trace": 9, "unknown": 10} {
		got, ok := SeverityCode(name)
		require.True(t, ok, name)
		require.Equal(t, code, got, name)
	}
	_, ok := SeverityCode("Major")
	require.False(t, ok)
}

func TestNewUUID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		u := NewUUID()
		require.Regexp(t, re, u)
		require.False(t, seen[u])
		seen[u] = true
	}
}

func TestValidAction(t *testing.T) {
	for name, want := range map[string]bool{
		"ack": true, "createIssue": true, "é action": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "a\tb": false, "a\x7fb": false, "a\u0085b": false, "\xff": false,
	} {
		require.Equal(t, want, ValidAction(name), "%q", name)
	}
}
