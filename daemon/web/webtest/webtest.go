// Package webtest checks a /metrics answer the way a Prometheus server reads it: the
// exposition format with a # HELP text and a # TYPE for every family (CheckFamilies),
// and `promtool check metrics` (Promtool), the Prometheus project's own linter.
package webtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// PromtoolEnv names the environment variable that may give promtool's path; else it
// is looked up in PATH. .ci/services.sh installs it (from Debian's prometheus package).
const PromtoolEnv = "EDGERELAY_PROMTOOL"

// Promtool runs `promtool check metrics` on body and fails t on any problem it
// reports, lint included (a missing HELP, a counter without _total). Without promtool
// the test skips with a visible message, and fails under CI=true.
func Promtool(t testing.TB, body []byte) {
	t.Helper()
	bin := os.Getenv(PromtoolEnv)
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("promtool"); err != nil {
			adaptertest.Missing(t, "needs promtool (Debian package prometheus; .ci/services.sh installs the binary alone)")
			return
		}
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- the scrape:\n%s", err, out, body)
	}
}

// CheckFamilies checks body's comment lines: every sample's family has exactly one
// # HELP with a non-empty text that is not the "not documented" placeholder and one
// # TYPE, before its first sample, and no family is split. It returns the families
// with their types.
func CheckFamilies(t testing.TB, body []byte) map[string]string {
	t.Helper()
	types := map[string]string{}
	helps := map[string]bool{}
	done := map[string]bool{} // families whose samples have ended
	current := ""
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			if helps[name] {
				t.Errorf("%s: a second HELP line", name)
			}
			if strings.TrimSpace(help) == "" || strings.Contains(help, "Not documented") {
				t.Errorf("%s: no real HELP text: %q", name, line)
			}
			helps[name] = true
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			if _, dup := types[name]; dup {
				t.Errorf("%s: a second TYPE line", name)
			}
			if !helps[name] {
				t.Errorf("%s: TYPE without HELP", name)
			}
			types[name] = typ
			if current != "" {
				done[current] = true
			}
			current = name
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			name := line[:strings.IndexAny(line+" ", "{ ")]
			fam := name
			if _, ok := types[fam]; !ok {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(name, s); ok && (types[base] == "histogram" || types[base] == "summary") {
						fam = base
					}
				}
			}
			if _, ok := types[fam]; !ok {
				t.Errorf("%s: a sample without HELP and TYPE: %q", name, line)
				continue
			}
			if fam != current || done[fam] {
				t.Errorf("%s: its samples are not together under its header: %q", fam, line)
			}
		}
	}
	return types
}
