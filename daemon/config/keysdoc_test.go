package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/daemon/lifecycle"
)

// documentedSections are the daemon-wide sections whose every key must appear, as
// `section.key`, in the Configuration section of ARCHITECTURE.md.
var documentedSections = []string{"http", "store", "indicator"}

// TestDaemonKeysDocumented keeps ARCHITECTURE.md's table of daemon-wide keys in step
// with the Config structs, nested keys (http.tls.cert_file) included.
func TestDaemonKeysDocumented(t *testing.T) {
	b, err := os.ReadFile("../../ARCHITECTURE.md")
	require.NoError(t, err)
	doc := string(b)
	start := strings.Index(doc, "## 6. Configuration")
	require.GreaterOrEqual(t, start, 0, "ARCHITECTURE.md has no configuration section")
	doc = doc[start:]
	if end := strings.Index(doc[1:], "\n## "); end >= 0 {
		doc = doc[:end+1]
	}
	top := yamlFields(reflect.TypeOf(Config{}))
	var missing []string
	for _, sec := range documentedSections {
		st, ok := top[sec]
		require.True(t, ok, "no section %q in Config", sec)
		for _, k := range dottedKeys(sec, st) {
			if !strings.Contains(doc, "`"+k+"`") {
				missing = append(missing, k)
			}
		}
	}
	for _, k := range dottedKeys("events", reflect.TypeOf(lifecycle.Config{})) {
		if !strings.Contains(doc, "`"+k+"`") {
			missing = append(missing, k)
		}
	}
	require.Empty(t, missing, "keys not listed as `key` in the Configuration section of ARCHITECTURE.md")
}

// dottedKeys lists the leaf keys of the struct t under prefix, as prefix.key.sub.
func dottedKeys(prefix string, t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == durationT {
		return []string{prefix}
	}
	var out []string
	for k, ft := range yamlFields(t) {
		out = append(out, dottedKeys(prefix+"."+k, ft)...)
	}
	return out
}
