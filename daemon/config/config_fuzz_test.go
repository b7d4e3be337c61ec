package config

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// lineRE finds the line a problem names.
var lineRE = regexp.MustCompile(`\bline \d+\b`)

// FuzzParse feeds arbitrary bytes to Parse (what Load does with a file's content).
// It must never panic; a refusal is an *Error listing at least one problem, each
// non-empty and naming its line (or, for a key checked after decoding, its key);
// YAML that does not parse names the line at fault; and the same bytes always give
// the same answer, a loaded configuration validating again without a problem.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		string(DefaultYAML),
		good,
		"",
		"# only a comment\n",
		"[1, 2]",
		"sinks: {}\n",
		"sinks:\n  - name: a\n    type: stdout\nroutes:\n  - to: [a]\n    transform: {type: ilert, event_topic: a/#}\n",
		"sinks:\n  - &s {name: a, type: stdout}\n  - *s\nroutes: [{to: [a, b]}]\n",
		"base: &b {level: debug}\nlog:\n  <<: *b\n",
		"store:\n  commit_window: 2s\n  max_batch: -1\n  deliver_window: 1h\n",
		"log: {level: loud, format: xml}\nrejects: {unrouted: keep}\n",
		"sources:\n  - {name: m, type: mqtt, url: tcp://h:1, topics: ['a/#/b'], max_inflight: 1}\n",
		"routes:\n  - from: [plant]\n    to: [hook]\n    topics: ['a/+b']\n",
		"http:\n\tlisten: x\n",
		"store: {path: ${EDGERELAY_FUZZ_UNSET}}\n",
		"node: {id: \"\xff\"}\n",
		"a: !!binary gIGC\n",
		"x: &a [*a]\n",
		// Two sinks as close to the unknown name: the suggestion must not depend on
		// map order.
		"sinks:\n  - {name: ab, type: stdout}\n  - {name: ba, type: stdout}\nroutes: [{to: [aa]}]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse(b, "fuzz.yaml")
		cfg2, err2 := Parse(b, "fuzz.yaml")
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("Parse is not deterministic:\n %v\n %v", err, err2)
		}
		if err == nil {
			if !reflect.DeepEqual(cfg, cfg2) {
				t.Fatalf("Parse is not deterministic: two loads of the same bytes differ")
			}
			if p := cfg.validate(); len(p) > 0 {
				t.Fatalf("a loaded configuration fails validation again: %q", p)
			}
			return
		}
		var cerr *Error
		if !errors.As(err, &cerr) {
			t.Fatalf("Parse error %T is not a *config.Error: %v", err, err)
		}
		if len(cerr.Problems) == 0 {
			t.Fatalf("Parse refused the input with no problem listed")
		}
		if !strings.Contains(err.Error(), "fuzz.yaml") {
			t.Fatalf("the error does not name the file: %v", err)
		}
		var doc yaml.Node
		syntaxErr := yaml.Unmarshal(b, &doc) != nil
		for _, p := range cerr.Problems {
			switch {
			case strings.TrimSpace(p) == "":
				t.Fatalf("an empty problem in %q", cerr.Problems)
			case syntaxErr && !lineRE.MatchString(p):
				t.Fatalf("a YAML syntax error without its line: %q", p)
			case !lineRE.MatchString(p):
				t.Fatalf("a problem without its line: %q", p)
			}
		}
	})
}
