package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// seeds are valid and invalid texts of every kind, for the tests and the fuzzers.
var seeds = []string{
	``, ` `, `{}`, ` { } `, `[]`, `[ ]`, `null`, `true`, `false`, `0`, `-0`, `1`, `-1.5e+10`, `1E3`, `12.50`, `"s"`, `""`,
	`{"a":1}`, `{"a" : [1, 2 ,{"b":null}] , "c":"d"}`, "\t{\n\"a\"\r:\"b\"}\n", `[[[]]]`, `[{},{"a":{}}]`,
	`{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`, `{"\u0061":1,"a":2}`, `"\ud800\u0041"`, "\"\u2028\"", "\"\x7f\"",
	"\"\xff\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"", "\"\xef\xbf\xbd\"", "{\"\xff\":1}", "\xef\xbb\xbf{}",
	`{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `[1,]`, `[,1]`, `[1 2]`, `{"a":1 "b":2}`, `{"a" 1}`, `{a:1}`, `{'a':1}`,
	`01`, `1.`, `.5`, `-`, `+1`, `1e`, `1e+`, `0x1`, `NaN`, `tru`, `nul`, `fals`, `truex`, `"`, `"\`, `"\x"`, `"\u12"`,
	`"\u12g4"`, "\"a\tb\"", "\"a\x00b\"", `{} {}`, `[] x`, `1 2`, `"a"b`,
	// Strings longer than a word, something to see at every offset.
	`"Discharge pressure 8.7 bar above the 8.0 bar limit"`, `"0123456789abcdef\"0123456789"`, `"0123456789abc\\def0123"`,
	"\"0123456789abcd\x1fef\"", "\"012345678\xc3\xa9abcdefghijkl\"", "\"01234567\xff89abcdef\"", `"0123456789abcdefg`,
	"{\"0123456789abcdef\":\"0123456789\x7f\x20\x21\x5b\x5d\"}",
}

// members reads data the way the ilert code did before this package: valid for
// encoding/json, an object for gjson, its members in gjson's order and decoding.
func members(data []byte) (keys []string, vals []gjson.Result, ok bool) {
	if !json.Valid(data) {
		return nil, nil, false
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return nil, nil, false
	}
	root.ForEach(func(k, v gjson.Result) bool {
		keys, vals = append(keys, k.Str), append(vals, v)
		return true
	})
	return keys, vals, true
}

var kinds = map[gjson.Type][]Kind{
	gjson.Null: {Null}, gjson.False: {False}, gjson.True: {True}, gjson.Number: {Number}, gjson.String: {String},
	gjson.JSON: {Object, Array},
}

// check holds Valid and Members to encoding/json and gjson on data.
func check(t *testing.T, data []byte) {
	t.Helper()
	info, ok := Valid(data)
	require.Equal(t, json.Valid(data), ok, "Valid(%q)", data)
	if ok {
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, data))
		require.Equal(t, compact.Len() != len(data), info.Spaced, "Spaced of %q", data)
		require.Equal(t, !utf8.Valid(data), info.BadUTF8, "BadUTF8 of %q", data)
	}

	wantKeys, wantVals, wantOK := members(data)
	var keys []string
	var vals []Value
	minfo, ok := Members(data, func(k, v Value) {
		keys = append(keys, Unquote(string(data[k.Start:k.End])))
		vals = append(vals, v)
		require.True(t, k.Is(data, keys[len(keys)-1]))
	})
	require.Equal(t, wantOK, ok, "Members(%q)", data)
	if !ok {
		return
	}
	require.Equal(t, info, minfo)
	require.Equal(t, wantKeys, keys, "keys of %q", data)
	require.Len(t, vals, len(wantVals))
	for i, v := range vals {
		w := wantVals[i]
		text := string(data[v.Start:v.End])
		require.Equal(t, w.Raw, text, "member %d of %q", i, data)
		require.Contains(t, kinds[w.Type], v.Kind, "member %d of %q", i, data)
		if v.Kind == String {
			require.Equal(t, w.Str, Unquote(text), "member %d of %q", i, data)
			require.Equal(t, strings.Contains(text, `\`), v.Escaped)
		}
		if v.Kind == Array {
			require.Equal(t, byte('['), text[0])
		}
	}
}

func TestAgainstEncodingJSONAndGJSON(t *testing.T) {
	for _, s := range seeds {
		check(t, []byte(s))
		check(t, []byte(`{"k":`+s+`}`))
		check(t, []byte(`{"k":[`+s+`],"s":"`+s+`"}`))
	}
}

func TestDepth(t *testing.T) {
	for _, c := range []struct {
		depth int
		ok    bool
	}{{1, true}, {33, true}, {10000, true}, {10001, false}} {
		arr := strings.Repeat("[", c.depth) + strings.Repeat("]", c.depth)
		_, ok := Valid([]byte(arr))
		require.Equal(t, c.ok, ok, "arrays %d deep", c.depth)
		require.Equal(t, json.Valid([]byte(arr)), ok)
		obj := strings.Repeat(`{"a":`, c.depth-1) + "{}" + strings.Repeat("}", c.depth-1)
		_, ok = Members([]byte(obj), func(Value, Value) {})
		require.Equal(t, c.ok, ok, "objects %d deep", c.depth)
		require.Equal(t, json.Valid([]byte(obj)), ok)
	}
}

func TestAllocs(t *testing.T) {
	data := []byte(`{"apiKey":"il1api-bench","eventType":"ALERT","n":[1,{"a":null}],"d":{"id":"x","ts":1763780000123456789}}`)
	var n int
	require.Zero(t, testing.AllocsPerRun(100, func() {
		_, _ = Members(data, func(k, _ Value) {
			if k.Is(data, "eventType") {
				n++
			}
		})
		_, _ = Valid(data)
	}))
}

func FuzzScan(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data)
	})
}

// BenchmarkMembers is the scan of the W1 bench's ilert payload.
func BenchmarkMembers(b *testing.B) {
	data := []byte(`{"apiKey":"il1api-bench","eventType":"ALERT","summary":"Pressure high on pump 3",` +
		`"details":"Discharge pressure 8.7 bar above the 8.0 bar limit for 30 s","alertKey":"k17","priority":"HIGH",` +
		`"customDetails":{"id":"5f3a9c01-0000-4000-8000-000000012345","ts":1763780000123456789}}`)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, ok := Members(data, func(Value, Value) {}); !ok {
			b.Fatal("invalid")
		}
	}
}
