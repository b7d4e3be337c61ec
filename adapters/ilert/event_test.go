package ilert

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
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
