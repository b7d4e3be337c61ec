package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from the current code")

// goldenConfigs are the mappings the golden inputs run through, by name.
var goldenConfigs = []struct {
	name   string
	kafka  bool
	topics bool // map on every golden topic, not only the first
	cfg    Config
}{
	{name: "default", topics: true},
	{name: "kafka", kafka: true, topics: true},
	{name: "all_mappings", cfg: allMappings},
	{name: "paths", cfg: Config{MapKeySummary: "data.message", MapKeyAlertKey: "meta.code", MapKeyEtype: "status.type",
		MapKeyPriority: "sev.level", MapValEtypeAccept: "ack", MapValEtypeResolve: "clr"}},
	{name: "filter", cfg: Config{FilterKey: "summary", FilterVal: "Pressure high on pump 3"}},
	{name: "filter_key_only", cfg: Config{FilterKey: "a.b"}},
	{name: "forward", cfg: Config{ForwardMessagePayload: true}},
	{name: "forward_kafka", kafka: true, cfg: Config{ForwardMessagePayload: true, EventKey: "ev key 1?"}},
}

// goldenTopics are the topics every input is mapped on.
var goldenTopics = []string{"bench/alerts", "plant/<ops>&\"x\"/é\u2028"}

// goldenPayloads exercise every part of the mapping: missing and null fields, wrong
// types, unicode and escapes, numbers, nested customDetails, event types and
// priorities in any case, images and links, duplicates, the payloads the benchmark
// publishes, and what is not a JSON object.
var goldenPayloads = []string{
	// W1 (ilert sink, webhook sink)
	`{"apiKey":"il1api-bench","eventType":"ALERT","summary":"Pressure high on pump 3","details":"Discharge pressure 8.7 bar above the 8.0 bar limit for 30 s","alertKey":"k17","priority":"HIGH","customDetails":{"id":"5f3a9c01-0000-4000-8000-000000012345","ts":1763780000123456789}}`,
	`{"id":"5f3a9c01-0000-4000-8000-000000012345","key":"k17","ts":1763780000123456789,"summary":"Pressure high on pump 3","details":"Discharge pressure 8.7 bar above the 8.0 bar limit for 30 s","priority":"HIGH"}`,
	`{}`, ` { } `, "\t{\n\"summary\" : \"spaced\" ,\r\n \"alertKey\":\"a\" }\n",
	// event types and priorities
	`{"eventType":"resolve","alertKey":"k1"}`, `{"eventType":"Accept","alertKey":"k1"}`, `{"eventType":"COMMENT","summary":"c"}`,
	`{"eventType":"alert"}`, `{"eventType":"bogus"}`, `{"eventType":""}`, `{"eventType":null}`, `{"eventType":5}`,
	`{"eventType":"reſolve"}`, `{"eventType":"ACCEPT","priority":"hıgh"}`, `{"eventType":"ALERT","priority":"İ"}`,
	`{"priority":"low"}`, `{"priority":"Low"}`, `{"priority":"MEDIUM"}`, `{"priority":""}`, `{"priority":null}`, `{"priority":1}`,
	`{"eventType":"bogus","priority":"urgent"}`, `{"eventType":"r\u0065solve"}`, `{"priority":"\u0068igh"}`,
	// keys
	`{"integrationKey":"a","apiKey":"b"}`, `{"integrationKey":"a","apiKey":"a"}`, `{"apiKey":"b"}`, `{"integrationKey":null,"apiKey":"b"}`,
	`{"integrationKey":5}`, `{"apiKey":true}`, `{"integrationKey":"a/b c?d%é"}`, `{"integrationKey":""}`,
	// strings: unicode, escapes, HTML, separators
	`{"summary":"Überdruck ⚠ 压力 😀","details":"a<b>&c","alertKey":"ключ"}`,
	`{"summary":"tab\there \"q\" back\\slash \/ \b\f\n\r","details":"\u00e9\u20ac\ud83d\ude00"}`,
	`{"summary":"lone \ud800 high","details":"\udc00 low","alertKey":"\ud800\u0041"}`,
	"{\"summary\":\"line\u2028sep\u2029para\",\"details\":\"\x7f del\"}",
	`{"summary":"\u2028\u0000\u001f","alertKey":"\"quoted\""}`,
	`{"summ\u0061ry":"escaped key","\u0061lertKey":"k"}`,
	`{"summary":"first","summary":"second","alertKey":"a1","alertKey":"a2"}`,
	`{"summary":"dup","summary":5}`, `{"summary":5,"summary":"dup"}`,
	// wrong types
	`{"summary":5}`, `{"details":{"nested":true}}`, `{"alertKey":["a"]}`, `{"summary":false}`,
	// customDetails
	`{"customDetails":null}`, `{"customDetails":"str"}`, `{"customDetails":-0.5e+10}`, `{"customDetails":[1,"two",{"3":null}]}`,
	`{"customDetails": { "a" : [ 1 , 2.50 , -0 , 1E3 ] , "s" : "keep  these spaces" , "n" : { "deep" : { "er" : [ ] } } } }`,
	`{"customDetails":{"html":"<b>&</b>","u":"\u003c","big":123456789012345678901234567890,"t":true,"f":false,"z":null}}`,
	`{"customDetails":{},"customDetails":{"second":1}}`,
	// images and links
	`{"images":[{"src":"http://i/1.png","alt":"pic"},{"src":"s","href":"h","alt":null}],"links":[{"href":"http://l","text":"T"},{"href":"x"}]}`,
	`{"images":[],"links":[]}`, `{"images":null,"links":null}`, `{"images":{"src":"x"}}`, `{"links":["http://x"]}`,
	`{"images":[{"href":"x"}]}`, `{"images":[{"src":5}]}`, `{"links":[{"href":"h","text":1}]}`, `{"links":[null]}`,
	// mapping paths and filters
	`{"state":"SET","mCode":"M-100","comment":"Pump failure"}`, `{"state":"ACK","mCode":5,"comment":["x"]}`, `{"state":"CLR"}`,
	`{"state":"set"}`, `{"state":7,"eventType":"RESOLVE"}`,
	`{"data":{"message":"deep"},"meta":{"code":"C-1"},"status":{"type":"ack"},"sev":{"level":"low"}}`,
	`{"data":{"message":1},"meta":{"code":null},"status":{"type":"clr"},"sev":{"level":"medium"}}`,
	`{"a.b":"literal","data.message":"lit"}`, `{"a":{"b":1}}`,
	// not an ilert event
	``, ` `, `null`, `[]`, `[{"summary":"x"}]`, `"str"`, `5`, `true`, `not json`, `{"summary":"x"`, `{"summary":"x"}}`,
	`{"summary":"x",}`, `{"summary" "x"}`, `{'summary':'x'}`, "\xef\xbb\xbf{}", "{\"summary\":\"\xff\"}", "{\"summary\":\"ok\"}\xff",
	"{\"s\xffx\":1}", "{\"summary\":\"raw\ttab\"}", `{"summary":"\x"}`, `{"summary":"\u12"}`, `{"n":01}`, `{"n":1.}`, `{"n":-}`,
	`{"n":.5}`, `{"n":1e}`, `{"n":+1}`, `{"n":tru}`, `{"n":nul}`, `{"n":NaN}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":{"b"}}`,
	"{\"customDetails\":\"\xed\xa0\x80\"}", "{\"customDetails\":\"\xc0\xaf\"}", "{\"customDetails\":\"\xf4\x90\x80\x80\"}",
	"{\"summary\":\"\xef\xbf\xbd real replacement\"}",
}

// goldenCase is what the current code makes of one input, for the golden file.
type goldenCase struct {
	Config string   `json:"config"`
	Topic  string   `json:"topic"`
	Input  int      `json:"input"` // the index in goldenPayloads
	Map    goldenIO `json:"map"`
	// Transform is the route transform's output for the same input; its body is
	// left out when it is Map's.
	Transform goldenIO `json:"transform"`
	// Check is ilert.CheckEvent on the transform's body.
	Check string `json:"check,omitempty"`
}

type goldenIO struct {
	Err       string            `json:"err,omitempty"`
	Permanent bool              `json:"permanent,omitempty"`
	Skip      bool              `json:"skip,omitempty"`
	Filtered  bool              `json:"filtered,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Body      string            `json:"body,omitempty"`
	Key       string            `json:"key,omitempty"`
	IntKey    string            `json:"integrationKey,omitempty"`
	EventType string            `json:"eventType,omitempty"`
	Path      string            `json:"path,omitempty"`
	Warnings  []string          `json:"warnings,omitempty"`
	Kind      string            `json:"kind,omitempty"`
	Attrs     map[string]string `json:"attrs,omitempty"`
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// goldenRun maps every golden input with every golden configuration.
func goldenRun(t *testing.T) []goldenCase {
	var out []goldenCase
	for _, gc := range goldenConfigs {
		tc := TransformConfig{Consumer: ConsumerMQTT, Config: gc.cfg, Topics: Topics{Event: "#"}}
		if gc.kafka {
			tc.Consumer = ConsumerKafka
		}
		require.NoError(t, tc.Validate())
		tr, err := NewTransform(tc, adapters.Deps{})
		require.NoError(t, err)
		topics := goldenTopics[:1]
		if gc.topics {
			topics = goldenTopics
		}
		for _, topic := range topics {
			for i, p := range goldenPayloads {
				c := goldenCase{Config: gc.name, Topic: topic, Input: i}
				var res Result
				if gc.kafka {
					res, err = MapKafka(gc.cfg, topic, "msg<key>&", []byte(p))
				} else {
					res, err = Map(gc.cfg, topic, []byte(p))
				}
				c.Map = goldenIO{Err: errText(err), Permanent: adapters.IsPermanent(err), Skip: res.Skip, Filtered: res.Filtered,
					Reason: res.Reason, Body: string(res.Body), Key: res.AlertKey, IntKey: res.IntegrationKey, EventType: res.EventType,
					Path: res.Path, Warnings: res.Warnings}
				in := &adapters.Event{ID: "e1", Source: "plant", Topic: topic, Payload: []byte(p),
					Attrs: map[string]string{AttrKafkaKey: "msg<key>&"}}
				o, err := tr.Transform(in)
				c.Transform = goldenIO{Err: errText(err), Permanent: adapters.IsPermanent(err), Skip: errors.Is(err, adapters.ErrSkip)}
				if o != nil {
					c.Transform.Kind, c.Transform.Key, c.Transform.Attrs = o.Kind, o.Key, o.Attrs
					if string(o.Payload) != c.Map.Body {
						c.Transform.Body = string(o.Payload)
					}
					require.Equal(t, in.ID, o.ID)
					require.Equal(t, in.Source, o.Source)
					key, err := ilert.CheckEvent(o.Payload)
					c.Check = "key " + key
					if err != nil {
						c.Check = "error " + err.Error()
					}
				}
				out = append(out, c)
			}
		}
	}
	return out
}

// TestGolden holds the mapping's output, byte for byte, to what it was before the
// one-pass scanner replaced encoding/json and gjson in it (testdata/golden.json, made
// with -update from that code; one case a line).
func TestGolden(t *testing.T) {
	got := goldenRun(t)
	path := filepath.Join("testdata", "golden.jsonl")
	if *update {
		var b []byte
		for _, c := range got {
			line, err := json.Marshal(c)
			require.NoError(t, err)
			b = append(append(b, line...), '\n')
		}
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var want []goldenCase
	for line := range bytes.Lines(b) {
		var c goldenCase
		require.NoError(t, json.Unmarshal(line, &c))
		want = append(want, c)
	}
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i], got[i], "config %s topic %q payload %.200q", want[i].Config, want[i].Topic, goldenPayloads[want[i].Input])
	}
}
