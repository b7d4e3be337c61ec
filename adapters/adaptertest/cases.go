package adaptertest

import (
	"slices"
	"strings"
	"testing"
)

// suiteCase is one named case of a conformance suite.
type suiteCase struct {
	name string
	run  func(t *testing.T)
}

// runCases runs cases as subtests of t. A case named in unsupported is skipped with
// its reason, under CI too: the adapter declared that it cannot support it. Every
// name in unsupported must be a case and every reason non-empty, or the run fails
// before any case starts.
func runCases(t *testing.T, harness string, unsupported map[string]string, cases []suiteCase) {
	t.Helper()
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	for name, reason := range unsupported {
		if !slices.Contains(names, name) {
			t.Fatalf("adaptertest: %s.Unsupported names %q, which is no case of the suite (cases: %s)", harness, name, strings.Join(names, ", "))
		}
		if strings.TrimSpace(reason) == "" {
			t.Fatalf("adaptertest: %s.Unsupported gives no reason for %q", harness, name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if reason, ok := unsupported[c.name]; ok {
				t.Skipf("SKIP: the adapter does not support %s: %s", c.name, reason)
			}
			c.run(t)
		})
	}
}

// needHook ends the current case when the harness left out the capability it needs
// (hook names it): skipped on a developer machine, failed under CI, because leaving a
// hook out silently is not a reason (see Unsupported).
func needHook(t *testing.T, present bool, hook string) {
	t.Helper()
	if !present {
		Missing(t, "the harness leaves out %s, which this case needs (if the adapter cannot support the case, name it in Unsupported with the reason)", hook)
	}
}
