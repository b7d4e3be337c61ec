package config

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/tlsfiles"
)

var (
	nodeType        = reflect.TypeOf(yaml.Node{})
	durationType    = reflect.TypeOf(time.Duration(0))
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// checkKeys walks node alongside the Go type it will decode into and reports every
// mapping key that has no field, with its line and the closest known key. Type
// mismatches are left to yaml's decoder, which reports them with lines too.
func checkKeys(node *yaml.Node, t reflect.Type, path string) []string {
	var problems []string
	var walk func(n *yaml.Node, t reflect.Type, path string)
	walk = func(n *yaml.Node, t reflect.Type, path string) {
		if n == nil {
			return
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nodeType || t == durationType || reflect.PointerTo(t).Implements(unmarshalerType) ||
			reflect.PointerTo(t).Implements(textUnmarshaler) {
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			if n.Kind != yaml.MappingNode {
				return
			}
			fields := yamlFields(t)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				ft, ok := fields[k.Value]
				if !ok {
					problems = append(problems, unknownKey(k, path, fields))
					continue
				}
				walk(n.Content[i+1], ft, join(path, k.Value))
			}
		case reflect.Slice, reflect.Array:
			if n.Kind != yaml.SequenceNode {
				return
			}
			for i, c := range n.Content {
				walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
			}
		case reflect.Map:
			if n.Kind != yaml.MappingNode {
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
			}
		}
	}
	walk(node, t, path)
	return problems
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func unknownKey(k *yaml.Node, path string, fields map[string]reflect.Type) string {
	known := make([]string, 0, len(fields))
	for f := range fields {
		known = append(known, f)
	}
	sort.Strings(known)
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	msg := fmt.Sprintf("line %d: unknown key %q %s", k.Line, k.Value, where)
	if s := closest(k.Value, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(known) > 0 {
		msg += " (known keys: " + strings.Join(known, ", ") + ")"
	}
	return msg
}

// yamlFields maps the yaml keys of struct t to field types, following inline fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	eachYAMLField(t, func(name string, owner reflect.Type, f reflect.StructField) { out[name] = f.Type })
	return out
}

// eachYAMLField calls fn for every yaml key of struct t with the struct type that
// declares it, following inline fields into the structs they embed.
func eachYAMLField(t reflect.Type, fn func(name string, owner reflect.Type, f reflect.StructField)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				eachYAMLField(ft, fn)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fn(name, t, f)
	}
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var varRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// interpolate expands ${VAR} and ${VAR:-default} in every scalar value (never in
// keys or comments). $${ stands for a literal ${. A plain scalar that changes is
// re-typed, so `port: ${PORT}` decodes as a number.
func interpolate(n *yaml.Node, lookup func(string) (string, bool)) []string {
	var problems []string
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		switch n.Kind {
		case yaml.ScalarNode:
			if isKey || !strings.Contains(n.Value, "${") {
				return
			}
			out := varRef.ReplaceAllStringFunc(n.Value, func(m string) string {
				if m == "$${" {
					return "${"
				}
				sub := varRef.FindStringSubmatch(m)
				if v, ok := lookup(sub[1]); ok {
					return v
				}
				if sub[2] != "" {
					return sub[3]
				}
				problems = append(problems, fmt.Sprintf("line %d: environment variable %s is not set (write ${%s:-default} to give a default)", n.Line, sub[1], sub[1]))
				return ""
			})
			if out != n.Value {
				n.Value = out
				if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
					n.Tag = ""
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i], true)
				walk(n.Content[i+1], false)
			}
		default:
			for _, c := range n.Content {
				walk(c, false)
			}
		}
	}
	walk(n, false)
	return problems
}

// envLookup is os.LookupEnv; a variable for tests to replace.
var envLookup = os.LookupEnv

func reflectTypeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

// renamedKeys maps the old spelling of an adapter key to the one every adapter uses
// now. The old one is still accepted, with a warning, in the sections of adapters
// whose Config has the new key.
var renamedKeys = map[string]string{
	"max_inflight": "max_in_flight", // the mqtt and kafka sources spelled it so once
}

// renameOldKeys rewrites old spellings of keys of the adapter section n (decoding
// into t) to the new ones. It returns a warning per rewritten key, and a problem
// where a section gives both spellings.
func renameOldKeys(n *yaml.Node, t reflect.Type, where string) (warnings, problems []string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return nil, nil
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		to, ok := renamedKeys[k.Value]
		if _, has := fields[to]; !ok || !has {
			continue
		}
		if hasKey(n, to) {
			problems = append(problems, fmt.Sprintf("line %d: %s gives both %q and %q; keep %q", k.Line, where, k.Value, to, to))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("line %d: %q in %s is the old spelling of %q; it still works, but write %q",
			k.Line, k.Value, where, to, to))
		k.Value = to
	}
	return warnings, problems
}

// hasKey reports whether the mapping n has the key.
func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// Types whose values checkValues leaves alone: tlsfiles.ServerConfig reads and
// parses its files in its own Validate, which names the key.
var tlsServerType = reflect.TypeOf(tlsfiles.ServerConfig{})

// mayBeNegative lists the fields (Go struct type and YAML key) where a negative
// number means something: every other duration and number is refused below zero.
var mayBeNegative = map[string]string{
	"config.Store.deliver_window":       "a negative value turns it off",
	"config.Store.max_event_bytes":      "-1 means no limit",
	"config.Store.max_bytes":            "-1 means no bound",
	"config.Store.max_dead_letters":     "-1 means no bound",
	"config.Store.max_dead_bytes":       "-1 means no bound",
	"mapping.PolicyConfig.shift_offset": "",
}

// onlyMinusOne lists the fields of mayBeNegative where -1 is the one negative value.
var onlyMinusOne = map[string]bool{
	"config.Store.max_event_bytes":  true,
	"config.Store.max_bytes":        true,
	"config.Store.max_dead_letters": true,
	"config.Store.max_dead_bytes":   true,
}

// checkValues walks node alongside the Go type it will decode into and reports, each
// with its line and key: a value of the wrong type (a word where a duration or number
// belongs, a list where a mapping belongs); a negative duration or number where
// negatives mean nothing (see mayBeNegative); a *_file key naming a file that
// cannot be read now (a token, password or key file the daemon would otherwise only
// fail to read once it runs); and a key tagged check:"executable" naming a program
// that cannot be run (a missing or non-executable script).
func checkValues(node *yaml.Node, t reflect.Type, path string) []string {
	var problems []string
	var walk func(n *yaml.Node, t reflect.Type, path, field string)
	walk = func(n *yaml.Node, t reflect.Type, path, field string) {
		if n == nil {
			return
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" || t == nodeType || t == tlsServerType {
			return
		}
		at := fmt.Sprintf("line %d: %s", n.Line, path)
		if t == durationType || reflect.PointerTo(t).Implements(unmarshalerType) ||
			reflect.PointerTo(t).Implements(textUnmarshaler) || scalarKind(t.Kind()) {
			v := reflect.New(t)
			if err := n.Decode(v.Interface()); err != nil {
				problems = append(problems, at+": "+typeProblem(n, t, err))
				return
			}
			if neg(v.Elem()) {
				if why, ok := mayBeNegative[field]; !ok {
					problems = append(problems, fmt.Sprintf("%s: %s must not be negative (0 means the default)", at, n.Value))
				} else if onlyMinusOne[field] && v.Elem().Int() != -1 {
					problems = append(problems, fmt.Sprintf("%s: %s is negative; %s", at, n.Value, why))
				}
			}
			if t.Kind() == reflect.String && n.Value != "" {
				if err := refCheck(path, n.Value); err != nil { // refcheck.go
					problems = append(problems, fmt.Sprintf("%s: %v", at, err))
				}
			}
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			if n.Kind != yaml.MappingNode {
				problems = append(problems, at+": must be a mapping of keys, not "+nodeKind(n))
				return
			}
			fields := yamlFields(t)
			owners := fieldOwners(t)
			execs := executableFields(t)
			if strings.HasSuffix(path, "tls") {
				if p := keyPairCheck(n, path); p != "" { // refcheck.go
					problems = append(problems, p)
				}
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if ft, ok := fields[k.Value]; ok {
					if execs[k.Value] && v.Kind == yaml.ScalarNode && v.Value != "" {
						if err := executableCheck(v.Value); err != nil {
							problems = append(problems, fmt.Sprintf("line %d: %s: %v", v.Line, join(path, k.Value), err))
						}
					}
					walk(v, ft, join(path, k.Value), owners[k.Value]+"."+k.Value)
				}
			}
		case reflect.Slice, reflect.Array:
			if n.Kind != yaml.SequenceNode {
				problems = append(problems, at+": must be a list, not "+nodeKind(n))
				return
			}
			for i, c := range n.Content {
				walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), "")
			}
		case reflect.Map:
			if n.Kind != yaml.MappingNode {
				problems = append(problems, at+": must be a mapping, not "+nodeKind(n))
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), "")
			}
		}
	}
	walk(node, t, path, "")
	return problems
}

func scalarKind(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func neg(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() < 0
	case reflect.Float32, reflect.Float64:
		return v.Float() < 0
	}
	return false
}

// typeProblem says what is wrong with the value of n for type t.
func typeProblem(n *yaml.Node, t reflect.Type, err error) string {
	if n.Kind != yaml.ScalarNode {
		return "must be a single value, not " + nodeKind(n)
	}
	switch {
	case t == durationType:
		return fmt.Sprintf("%q is not a duration (such as 500ms, 30s, 5m)", n.Value)
	case t.Kind() == reflect.Bool:
		return fmt.Sprintf("%q is not true or false", n.Value)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return fmt.Sprintf("%q is not a whole number", n.Value)
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return fmt.Sprintf("%q is not a whole number from 0 up", n.Value)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return fmt.Sprintf("%q is not a number", n.Value)
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
			msg = msg[i+2:]
		}
		return msg
	}
	return err.Error()
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("the value %q", n.Value)
}

// fieldOwners maps the yaml keys of struct t to the name of the struct type that
// declares them ("config.Store"), following inline fields like yamlFields.
func fieldOwners(t reflect.Type) map[string]string {
	out := map[string]string{}
	eachYAMLField(t, func(name string, owner reflect.Type, _ reflect.StructField) { out[name] = owner.String() })
	return out
}

// executableFields returns the yaml keys of struct t whose field is tagged
// check:"executable": the path of a program the daemon runs (the script sink's
// command), checked at load like a *_file key.
func executableFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	eachYAMLField(t, func(name string, _ reflect.Type, f reflect.StructField) {
		if f.Tag.Get("check") == "executable" {
			out[name] = true
		}
	})
	return out
}

// executableCheck is executable; a variable for tests, like fileCheck.
var executableCheck = adapters.CheckExecutable

// fileCheck is readable; a variable for tests (the adapters' documented samples
// name files under /etc/edgerelay that a test machine does not have).
var fileCheck = readable

// readable reports why the file at path cannot be read now, or nil.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", path)
	}
	var b [1]byte
	if _, err := f.Read(b[:]); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// lineOf returns the line of the value at the dotted key path in the mapping root
// ("store.commit_window"), or of the deepest part of it the file has; 0 when the file
// has none of it.
func lineOf(root *yaml.Node, path string) int {
	line := 0
	n := root
	for _, k := range strings.Split(path, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				line = n.Content[i].Line
				break
			}
		}
		n = next
	}
	return line
}
