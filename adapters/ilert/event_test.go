package ilert

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// encodeStd is what Encode must produce: encoding/json with HTML escaping off.
func encodeStd(t testing.TB, e *Event) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(e))
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, e := range []Event{
		{},
		{IntegrationKey: "k", EventType: "ALERT", Summary: "s", CustomDetails: json.RawMessage(`{"topic":"t"}`)},
		{Summary: "a<b>&c \"q\" \\ \n\r\t\b\f \x01\x1f\x7f é \u2028\u2029 😀 \xff\xfe end", Details: s("d\x00"),
			AlertKey: s(""), Priority: s("HIGH"), CustomDetails: json.RawMessage(" {\n \"a\" : [1, 2 ,\"x y\\\" z\"],\t\"b\":null } ")},
		{Images: []Image{{Src: "http://i/1.png", Alt: s("pic")}, {Src: "", Href: s("h")}}, Links: []Link{{Href: "http://l", Text: s("T")}}},
		{Images: []Image{}, Links: []Link{}, CustomDetails: json.RawMessage(`"str with spaces"`)},
	} {
		got, err := e.Encode()
		require.NoError(t, err)
		require.Equal(t, string(encodeStd(t, &e)), string(got))
	}
	_, err := (&Event{CustomDetails: json.RawMessage(`{"a":`)}).Encode()
	require.Error(t, err)
}

func FuzzEncode(f *testing.F) {
	f.Add("summary", "details", `{"a": 1}`)
	f.Add("\u2028<&>\xff", "\x00", ` [ "x" , 2 ] `)
	f.Fuzz(func(t *testing.T, summary, details, custom string) {
		e := Event{Summary: summary, Details: &details, CustomDetails: json.RawMessage(custom)}
		got, err := e.Encode()
		if !json.Valid([]byte(custom)) {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, string(encodeStd(t, &e)), string(got))
	})
}

// checkEventCases are bodies and what CheckEvent made of them (key, error) before it
// scanned them in one pass: the first of a repeated member counts, escapes are
// decoded as gjson decodes them, and anything that is not a JSON object is refused.
var checkEventCases = []struct{ body, key, err string }{
	{"{\"integrationKey\":\"il1api-bench\",\"eventType\":\"ALERT\",\"summary\":\"s\",\"details\":null,\"alertKey\":\"k17\",\"priority\":\"HIGH\",\"images\":null,\"links\":null,\"customDetails\":{\"id\":\"x\",\"ts\":1}}", "il1api-bench", ""},
	{"{\"eventType\":\"RESOLVE\"}", "", ""},
	{"{\"eventType\":\"ACCEPT\",\"priority\":\"LOW\",\"integrationKey\":null}", "", ""},
	{"{\"eventType\":\"COMMENT\",\"priority\":null}", "", ""},
	{" {\"eventType\" : \"ALERT\" , \"integrationKey\" : \"spaced\"} ", "spaced", ""},
	{"{\"eventType\":\"alert\"}", "", "eventType: \"alert\" is not ALERT, ACCEPT, RESOLVE or COMMENT"},
	{"{\"eventType\":\"BOGUS\"}", "", "eventType: \"BOGUS\" is not ALERT, ACCEPT, RESOLVE or COMMENT"},
	{"{\"eventType\":5}", "", "eventType: missing or not a string"},
	{"{\"eventType\":null}", "", "eventType: missing or not a string"},
	{"{}", "", "eventType: missing or not a string"},
	{"{\"summary\":\"x\"}", "", "eventType: missing or not a string"},
	{"{\"eventType\":\"ALERT\",\"priority\":\"high\"}", "", "priority: must be HIGH, LOW or null, got \"high\""},
	{"{\"eventType\":\"ALERT\",\"priority\":\"MEDIUM\"}", "", "priority: must be HIGH, LOW or null, got \"MEDIUM\""},
	{"{\"eventType\":\"ALERT\",\"priority\":5}", "", "priority: must be HIGH, LOW or null, got 5"},
	{"{\"eventType\":\"ALERT\",\"priority\":{\"level\":\"a very long priority object that the excerpt cuts\"}}", "", "priority: must be HIGH, LOW or null, got {\"level\":\"a very long priorit..."},
	{"{\"eventType\":\"ALERT\",\"priority\":true}", "", "priority: must be HIGH, LOW or null, got true"},
	{"{\"eventType\":\"ALERT\",\"integrationKey\":5}", "", "integrationKey: not a string"},
	{"{\"eventType\":\"ALERT\",\"integrationKey\":{}}", "", "integrationKey: not a string"},
	{"{\"eventType\":\"ALERT\",\"integrationKey\":\"\"}", "", ""},
	{"{\"eventType\":\"ALERT\",\"eventType\":\"bogus\"}", "", ""},
	{"{\"eventType\":\"bogus\",\"eventType\":\"ALERT\"}", "", "eventType: \"bogus\" is not ALERT, ACCEPT, RESOLVE or COMMENT"},
	{"{\"eventType\":\"ALERT\",\"integrationKey\":\"first\",\"integrationKey\":\"second\"}", "first", ""},
	{"{\"eventType\":\"ALERT\",\"priority\":\"HIGH\",\"priority\":\"x\"}", "", ""},
	{"{\"event\\u0054ype\":\"RESOLVE\",\"eventType\":\"bogus\"}", "", ""},
	{"{\"eventType\":\"\\u0041LERT\",\"integrationKey\":\"k\\u00e9y\\n\"}", "kéy\n", ""},
	{"{\"eventType\":\"ALERT\",\"integrationKey\":\"\\ud800\\u0041\"}", "�", ""},
	{"{\"eventType\":\"ALERT\",\"integrationKey\":\"lone \\ud800\"}", "lone �", ""},
	{"{\"eventType\":\"ALERT\",\"priority\":\"\\u0048IGH\",\"integrationKey\":\"a/b\"}", "a/b", ""},
	{"{\"eventType\":\"ALERT\",\"integrationKey\":\"\xff\xfe\"}", "\xff\xfe", ""},
	{"{\"eventType\":\"ALERT\",\"x\":\"\xed\xa0\x80\"}", "", ""},
	{"", "", "payload is not a JSON object"},
	{" ", "", "payload is not a JSON object"},
	{"null", "", "payload is not a JSON object"},
	{"[]", "", "payload is not a JSON object"},
	{"\"ALERT\"", "", "payload is not a JSON object"},
	{"not json", "", "payload is not a JSON object"},
	{"{\"eventType\":\"ALERT\"", "", "payload is not a JSON object"},
	{"{\"eventType\":\"ALERT\"}}", "", "payload is not a JSON object"},
	{"{\"eventType\":\"ALERT\",}", "", "payload is not a JSON object"},
	{"{\"eventType\":\"ALERT\",\"n\":01}", "", "payload is not a JSON object"},
	{"{\"eventType\":\"ALERT\",\"n\":-}", "", "payload is not a JSON object"},
	{"\ufeff{\"eventType\":\"ALERT\"}", "", "payload is not a JSON object"},
	{"{\"eventType\":\"ALERT\",\"s\":\"\\x\"}", "", "payload is not a JSON object"},
	{"{\"eventType\":\"ALERT\",\"s\":\"a\tb\"}", "", "payload is not a JSON object"},
	// Deeper than encoding/json's limit (10,000), still valid for gjson.
	{`{"eventType":"ALERT","integrationKey":"deep","customDetails":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, "deep", ""},
	{`{"eventType":"ALERT","customDetails":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "", ""},
	{`{"eventType":"bogus","customDetails":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, "", `eventType: "bogus" is not ALERT, ACCEPT, RESOLVE or COMMENT`},
}

func TestCheckEvent(t *testing.T) {
	for _, tc := range checkEventCases {
		key, err := CheckEvent([]byte(tc.body))
		if tc.err != "" {
			require.EqualError(t, err, tc.err, "body %.100q", tc.body)
		} else {
			require.NoError(t, err, "body %.100q", tc.body)
		}
		require.Equal(t, tc.key, key, "body %.100q", tc.body)
	}
}

// checkEventGJSON is CheckEvent as it was before acceptEvent (gjson), the oracle of
// FuzzCheckEvent.
func checkEventGJSON(body []byte) (string, bool) {
	if !gjson.ValidBytes(body) {
		return "", false
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return "", false
	}
	var et, pr, key gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch {
		case k.Str == "eventType" && !et.Exists():
			et = v
		case k.Str == "priority" && !pr.Exists():
			pr = v
		case k.Str == "integrationKey" && !key.Exists():
			key = v
		}
		return true
	})
	switch {
	case et.Type != gjson.String, et.Str != "ALERT" && et.Str != "ACCEPT" && et.Str != "RESOLVE" && et.Str != "COMMENT":
		return "", false
	case pr.Exists() && pr.Type != gjson.Null && (pr.Type != gjson.String || pr.Str != "HIGH" && pr.Str != "LOW"):
		return "", false
	case key.Type != gjson.Null && key.Type != gjson.String:
		return "", false
	}
	return key.Str, true
}

func FuzzCheckEvent(f *testing.F) {
	for _, tc := range checkEventCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantOK := checkEventGJSON(body)
		key, err := CheckEvent(body)
		require.Equal(t, wantOK, err == nil, "CheckEvent(%q): %v", body, err)
		require.Equal(t, want, key)
		if key, ok := acceptEvent(body); ok {
			require.True(t, wantOK, "acceptEvent(%q)", body)
			require.Equal(t, want, key)
		}
	})
}

func TestAcceptEventAllocs(t *testing.T) {
	body := []byte(`{"integrationKey":"il1api-bench","eventType":"ALERT","summary":"s","priority":"HIGH","customDetails":{"id":"x"}}`)
	require.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _, _ = CheckEvent(body) })) // the key
}
