package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
)

// modulePath is this module's import path; an adapter's Config type lives in a
// package below it, which gives the adapter's directory.
const modulePath = "github.com/edgerelay/edgerelay/"

// readmeHeadings are the headings every adapter README has.
var readmeHeadings = []string{"## Description", "## Configuration", "## Delivery semantics", "## Metrics", "## Example"}

// TestAdapterDocs checks every registered adapter's documentation: the sample and
// the README's yaml examples pass the loader, the README has the standard headings
// and lists every configuration key, and the package runs the conformance suite.
func TestAdapterDocs(t *testing.T) {
	// The samples name files such as /etc/edgerelay/ca.pem, which this machine lacks.
	old := fileCheck
	t.Cleanup(func() { fileCheck = old })
	fileCheck = func(string) error { return nil }
	oldExec := executableCheck
	t.Cleanup(func() { executableCheck = oldExec })
	executableCheck = func(string) error { return nil }
	factories := adapters.Registered()
	require.NotEmpty(t, factories, "no adapter registered (adapters/all not linked?)")
	// … and variables (auth_value_env: …) that its environment lacks.
	oldPEM, oldEnv := pemCheck, envCheck
	t.Cleanup(func() { pemCheck, envCheck = oldPEM, oldEnv })
	pemCheck = func(string, string) error { return nil }
	envCheck = func(string) error { return nil }
	for _, f := range factories {
		t.Run(string(f.Dir)+"/"+f.Type, func(t *testing.T) {
			dir := adapterDir(t, f)
			t.Run("SampleParses", func(t *testing.T) {
				require.NotEmpty(t, strings.TrimSpace(f.Sample), "%s %s registers no sample", f.Dir, f.Type)
				checkSettings(t, f, f.Sample)
			})
			t.Run("ExamplesParse", func(t *testing.T) {
				ex, ok := readmeSections(t, dir)["## Example"]
				require.True(t, ok, "%s/README.md has no ## Example section", dir)
				blocks := yamlBlockRE.FindAllStringSubmatch(ex, -1)
				require.NotEmpty(t, blocks, "the Example section of %s/README.md has no yaml block", dir)
				for i, m := range blocks {
					t.Run(fmt.Sprint(i), func(t *testing.T) { checkExample(t, f, m[1]) })
				}
			})
			t.Run("ReadmeHeadings", func(t *testing.T) {
				secs := readmeSections(t, dir)
				for _, h := range append([]string{"# " + f.Type}, readmeHeadings...) {
					_, ok := secs[h]
					require.True(t, ok, "%s/README.md has no line %q", dir, h)
				}
			})
			t.Run("ReadmeListsKeys", func(t *testing.T) {
				conf, ok := readmeSections(t, dir)["## Configuration"]
				require.True(t, ok, "%s/README.md has no ## Configuration section", dir)
				var missing []string
				for _, k := range configKeys(reflect.TypeOf(f.NewConfig())) {
					if !strings.Contains(conf, "`"+k+"`") {
						missing = append(missing, k)
					}
				}
				require.Empty(t, missing, "keys of %s's Config not listed as `key` in the Configuration section of %s/README.md",
					f.Type, dir)
			})
			t.Run("ConformanceTest", func(t *testing.T) { checkConformance(t, f, dir) })
		})
	}
}

// adapterDir returns the directory, relative to this package, of the package that
// defines f's Config.
func adapterDir(t *testing.T, f *adapters.Factory) string {
	t.Helper()
	ct := reflect.TypeOf(f.NewConfig())
	for ct.Kind() == reflect.Pointer {
		ct = ct.Elem()
	}
	pkg, ok := strings.CutPrefix(ct.PkgPath(), modulePath)
	require.True(t, ok, "%s %s: Config type %s is not defined in a package of %s", f.Dir, f.Type, ct, modulePath)
	return filepath.Join("..", "..", filepath.FromSlash(pkg))
}

// yamlBlockRE matches a fenced yaml block and captures its text.
var yamlBlockRE = regexp.MustCompile("(?s)```ya?ml\n(.*?)```")

// checkExample loads one yaml block of a README's Example section: a complete
// configuration when it has a sources or sinks list, else the adapter's settings.
func checkExample(t *testing.T, f *adapters.Factory, text string) {
	t.Helper()
	var probe map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(text), &probe), "the example is not YAML:\n%s", text)
	_, hasSources := probe["sources"]
	_, hasSinks := probe["sinks"]
	if !hasSources && !hasSinks {
		checkSettings(t, f, text)
		return
	}
	_, err := Parse([]byte(text), f.Type+"-example.yaml")
	require.NoError(t, err, "the example configuration does not load:\n%s", text)
}

// checkSettings embeds settings (a sample, an example) as one entry of a complete
// configuration, with a stdout sink and a route to make it whole, and parses it as
// Load would: keys are checked strictly against the Config and Validate runs.
func checkSettings(t *testing.T, f *adapters.Factory, settings string) {
	t.Helper()
	var probe map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(settings), &probe), "not YAML:\n%s", settings)
	for _, k := range []string{"name", "type"} {
		_, clash := probe[k]
		require.False(t, clash, "the settings set %q, which the loader reserves for the entry itself", k)
	}

	var entry strings.Builder
	fmt.Fprintf(&entry, "  - name: sample\n    type: %s\n", f.Type)
	for line := range strings.Lines(settings) {
		entry.WriteString("    " + line)
	}
	if !strings.HasSuffix(settings, "\n") {
		entry.WriteString("\n")
	}
	var doc strings.Builder
	fmt.Fprintf(&doc, "store: { path: %s }\nhttp: { listen: 127.0.0.1:0 }\nbroker: { enabled: \"false\" }\n",
		filepath.Join(t.TempDir(), "queue.db"))
	to := "console"
	switch f.Dir {
	case adapters.DirSource:
		doc.WriteString("sources:\n" + entry.String())
		doc.WriteString("sinks:\n  - name: console\n    type: stdout\n")
	case adapters.DirTransform:
		doc.WriteString("sinks:\n  - name: console\n    type: stdout\n")
		fmt.Fprintf(&doc, "routes:\n  - to: [console]\n    transform:\n      type: %s\n", f.Type)
		for line := range strings.Lines(settings) {
			doc.WriteString("      " + line)
		}
		cfg, err := Parse([]byte(doc.String()), f.Type+"-sample.yaml")
		require.NoError(t, err, "the settings do not load; configuration tried:\n%s", doc.String())
		require.NotNil(t, cfg.Routes[0].Transform)
		require.Same(t, f, cfg.Routes[0].Transform.Factory)
		return
	default:
		doc.WriteString("sinks:\n" + entry.String())
		to = "sample"
	}
	fmt.Fprintf(&doc, "routes:\n  - to: [%s]\n", to)

	cfg, err := Parse([]byte(doc.String()), f.Type+"-sample.yaml")
	require.NoError(t, err, "the settings do not load; configuration tried:\n%s", doc.String())
	list := cfg.Sinks
	if f.Dir == adapters.DirSource {
		list = cfg.Sources
	}
	i := slices.IndexFunc(list, func(a Adapter) bool { return a.Name == "sample" })
	require.GreaterOrEqual(t, i, 0)
	require.Same(t, f, list[i].Factory)
}

// fenceRE matches the opening or closing line of a fenced code block.
var fenceRE = regexp.MustCompile("^\\s*(```|~~~)")

// readmeSections reads dir/README.md and maps each heading line outside code blocks
// (a "# comment" in a yaml example is not a heading) to the text under it, up to the
// next heading of the same or a higher level.
func readmeSections(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err, "every adapter has a README.md")
	type open struct {
		heading string
		level   int
		body    strings.Builder
	}
	out := map[string]string{}
	var stack []*open
	closeTo := func(level int) {
		for len(stack) > 0 && stack[len(stack)-1].level >= level {
			o := stack[len(stack)-1]
			out[o.heading] = o.body.String()
			stack = stack[:len(stack)-1]
		}
	}
	inFence := false
	for line := range strings.Lines(string(b)) {
		trimmed := strings.TrimRight(line, "\r\n")
		if fenceRE.MatchString(trimmed) {
			inFence = !inFence
		} else if !inFence && strings.HasPrefix(trimmed, "#") {
			hashes, _, _ := strings.Cut(trimmed, " ")
			if strings.Trim(hashes, "#") == "" {
				closeTo(len(hashes))
				stack = append(stack, &open{heading: strings.TrimSpace(trimmed), level: len(hashes)})
				continue
			}
		}
		for _, o := range stack {
			o.body.WriteString(line)
		}
	}
	closeTo(0)
	return out
}

var (
	durationT = reflect.TypeOf(time.Duration(0))
	nodeT     = reflect.TypeOf(yaml.Node{})
)

// configKeys returns every yaml key of the struct t points to, nested structs
// (tls, …) included, sorted. Types that decode themselves are leaves.
func configKeys(t reflect.Type) []string {
	seen := map[string]bool{}
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if depth > 10 || t == durationT || t == nodeT ||
			reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			for k, ft := range yamlFields(t) {
				seen[k] = true
				walk(ft, depth+1)
			}
		case reflect.Slice, reflect.Array, reflect.Map:
			walk(t.Elem(), depth+1)
		}
	}
	walk(t, 0)
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkConformance requires a test file of the adapter's package to run the
// conformance suite of its direction.
func checkConformance(t *testing.T, f *adapters.Factory, dir string) {
	t.Helper()
	want := "adaptertest.RunSink"
	switch f.Dir {
	case adapters.DirSource:
		want = "adaptertest.RunSource"
	case adapters.DirTransform:
		want = "adaptertest.RunTransform"
	}
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	require.NoError(t, err)
	for _, p := range files {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		if strings.Contains(string(b), want+"(") {
			return
		}
	}
	t.Fatalf("no test in %s calls %s: every %s runs the conformance suite", dir, want, f.Dir)
}
