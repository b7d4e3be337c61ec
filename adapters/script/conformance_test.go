//go:build linux

package script

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

const conformanceSecret = "s3cr3t-conformance-token"

// peerScript is the conformance suite's peer: it keeps each payload it accepts in
// $OUT as <nanoseconds>-<event id>.json (written under a temporary name, then
// renamed, so a half-written file is never listed), unless $CTL/fail holds "<n>
// <status>": then it rejects with that status, n times, and prints the token it was
// given on stderr, as a careless script would.
const peerScript = `
if [ -s "$CTL/fail" ]; then
	read n code < "$CTL/fail"
	if [ "$n" -le 1 ]; then rm -f "$CTL/fail"; else echo "$((n - 1)) $code" > "$CTL/fail"; fi
	cat > /dev/null
	echo "rejected; API_TOKEN=$API_TOKEN" >&2
	exit "$code"
fi
f="$OUT/$(date +%s%N)-$EDGERELAY_EVENT_ID"
cat > "$f.tmp" && mv "$f.tmp" "$f.json"
`

func TestConformance(t *testing.T) {
	out, ctl := t.TempDir(), t.TempDir()
	cmd := writeScript(t, peerScript)
	adaptertest.RunSink(t, adaptertest.SinkHarness{
		New: func(t *testing.T) adapters.Sink {
			cfg := DefaultConfig()
			cfg.Command = cmd
			cfg.Env = map[string]string{"OUT": out, "CTL": ctl, "API_TOKEN": conformanceSecret}
			cfg.MaxInFlight = 8
			s, err := New(cfg, testDeps(nil))
			require.NoError(t, err)
			return s
		},
		Received: func(t *testing.T) []adaptertest.Delivery {
			names, err := filepath.Glob(filepath.Join(out, "*.json"))
			require.NoError(t, err)
			slices.Sort(names) // by time of arrival
			var got []adaptertest.Delivery
			for _, n := range names {
				b, err := os.ReadFile(n)
				require.NoError(t, err)
				_, id, _ := strings.Cut(strings.TrimSuffix(filepath.Base(n), ".json"), "-")
				got = append(got, adaptertest.Delivery{ID: id, Payload: b})
			}
			return got
		},
		FailNext: func(t *testing.T, n int, permanent bool) {
			code := 75 // EX_TEMPFAIL: retried like any status not listed as permanent
			if permanent {
				code = ExitDataErr
			}
			require.NoError(t, os.WriteFile(filepath.Join(ctl, "fail"), fmt.Appendf(nil, "%d %d\n", n, code), 0o600))
		},
		Ordered: true, // each Send returns after its run: sequential sends arrive in order
		Secret:  conformanceSecret,
		Unsupported: map[string]string{
			"ReconnectAfterRestart": "a script has no peer to restart: every event starts a fresh process",
		},
	})
}
