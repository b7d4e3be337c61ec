package lifecycle

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"
)

// TestEnvelopeAgainstTheSDK: every catalogue type's envelope is a valid
// CloudEvents 1.0 event for the official Go SDK (the oracle, test-only): the SDK
// reads back the same id, source, type, time, content type, corename extension and
// data, and its own structured encoding of that event carries the same members.
// The core names include non-ASCII letters (percent-encoded in the source) and
// JSON's special characters. (A core name with ASCII characters a URI authority
// does not allow, such as a space, is percent-encoded as RFC 3986 says, but Go's
// net/url, and with it the SDK, refuses any ASCII percent-escape in a host:
// TestSourceEscaping checks those against RFC 3986 itself.)
func TestEnvelopeAgainstTheSDK(t *testing.T) {
	for _, core := range []string{"plant-7", "Zürich.gw_1~x", "a!$&'()*+,;=b", "default"} {
		for _, et := range Catalogue {
			d := new(Data)
			for _, f := range et.Data {
				d.Set(f.Name, f.Example)
			}
			require.NoError(t, d.check(et.Type))
			at := time.Date(2026, 12, 1, 19, 0, 0, 123456789, time.FixedZone("CET", 3600))
			env := &Envelope{ID: NewID(at), Source: SourceURI(core, "01JE5Q2W9RZ7K3M4N5P6Q7R8ST"), Type: et.Type, Time: at,
				CoreName: core, Data: d}
			body := env.Encode()

			var ev cloudevents.Event
			require.NoError(t, json.Unmarshal(body, &ev), "%s", body)
			require.NoError(t, ev.Validate())
			require.Equal(t, "1.0", ev.SpecVersion())
			require.Equal(t, env.ID, ev.ID())
			require.Equal(t, env.Source, ev.Source())
			require.Equal(t, et.Type, ev.Type())
			require.Equal(t, "application/json", ev.DataContentType())
			require.True(t, ev.Time().Equal(at.Truncate(time.Millisecond)), "time %s", ev.Time())
			require.True(t, strings.HasSuffix(string(body[strings.Index(string(body), `"time":"`)+8:][:24]), "Z"), "UTC with a Z")
			ext, ok := ev.Extensions()["corename"]
			require.True(t, ok, "corename is an extension attribute")
			require.Equal(t, core, ext)
			var want, got any
			require.NoError(t, json.Unmarshal(d.appendJSON(nil), &want))
			require.NoError(t, json.Unmarshal(ev.Data(), &got))
			require.Equal(t, want, got)

			// The source is a URI reference whose authority is the escaped core name.
			u, err := url.Parse(ev.Source())
			require.NoError(t, err, ev.Source())
			require.Equal(t, "edgerelay", u.Scheme)
			require.Equal(t, core, u.Host, "the authority decodes to the core name")

			// The SDK's own encoding of the event has the same members.
			again, err := json.Marshal(ev)
			require.NoError(t, err)
			var a, b map[string]any
			require.NoError(t, json.Unmarshal(again, &a))
			require.NoError(t, json.Unmarshal(body, &b))
			require.Equal(t, b, a)
		}
	}
}

// TestSourceEscaping: characters a URI authority does not allow are
// percent-encoded; unreserved characters and sub-delimiters are not; the result is
// an RFC 3986 authority (reg-name) that decodes back to the core name.
func TestSourceEscaping(t *testing.T) {
	regName := regexp.MustCompile(`^edgerelay://((?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-F]{2})*)/n1$`)
	for _, core := range []string{"plant 7/hall:3", "Zürich@gw#1", `quote"back\slash`, "[::1]", "a%b", "\x00\n"} {
		m := regName.FindStringSubmatch(SourceURI(core, "n1"))
		require.NotNil(t, m, "%q gives %q", core, SourceURI(core, "n1"))
		dec, err := url.PathUnescape(m[1])
		require.NoError(t, err)
		require.Equal(t, core, dec)
	}
	for core, want := range map[string]string{
		"default":       "edgerelay://default/n1",
		"plant 7":       "edgerelay://plant%207/n1",
		"a:b@c/d?e#f":   "edgerelay://a%3Ab%40c%2Fd%3Fe%23f/n1",
		"ü":             "edgerelay://%C3%BC/n1",
		"x-y_z.~!$&'()": "edgerelay://x-y_z.~!$&'()/n1",
		"100%":          "edgerelay://100%25/n1",
	} {
		require.Equal(t, want, SourceURI(core, "n1"), core)
	}
}

// TestNewID: ULIDs are 26 Crockford base32 characters, unique, and sort by time.
func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		id := NewID(at.Add(time.Duration(i) * time.Millisecond))
		require.Len(t, id, 26)
		require.Regexp(t, `^[0-9A-HJKMNP-TV-Z]{26}$`, id)
		require.False(t, seen[id])
		seen[id] = true
		require.Greater(t, id[:10], prev[:min(len(prev), 10)], "ids sort by time")
		prev = id
	}
	require.Equal(t, "01", NewID(time.UnixMilli(1 << 40))[:2])
}

// TestDataCheck: the catalogue is the one definition; a member it does not list,
// a missing one, a reordered one or a value of another type is refused.
func TestDataCheck(t *testing.T) {
	ok := new(Data).Set("from", "1.0").Set("to", "1.1")
	require.NoError(t, ok.check(TypeNodeVersionChanged))
	for name, d := range map[string]*Data{
		"missing":   new(Data).Set("from", "1.0"),
		"extra":     new(Data).Set("from", "1.0").Set("to", "1.1").Set("x", "y"),
		"reordered": new(Data).Set("to", "1.1").Set("from", "1.0"),
		"wrong":     new(Data).Set("from", int64(1)).Set("to", "1.1"),
		"null":      new(Data).Set("from", nil).Set("to", "1.1"),
	} {
		require.Error(t, d.check(TypeNodeVersionChanged), name)
	}
	require.Error(t, ok.check("edge.unknown"))
}
