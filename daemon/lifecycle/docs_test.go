package lifecycle

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCatalogueDocumented: docs/lifecycle-events.md has a catalogue row for every
// type, naming every data member, and no row for a type the catalogue lacks.
func TestCatalogueDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/lifecycle-events.md")
	require.NoError(t, err)
	rows := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `edge.") {
			typ := strings.Trim(strings.Split(l, "|")[1], " `")
			rows[typ] = l
		}
	}
	for _, et := range Catalogue {
		row, ok := rows[et.Type]
		require.True(t, ok, "docs/lifecycle-events.md has no catalogue row for %s", et.Type)
		cells := strings.Split(row, "|")
		for _, f := range et.Data {
			require.Contains(t, cells[3], "`"+f.Name+"`", "the row of %s does not name %s", et.Type, f.Name)
		}
		delete(rows, et.Type)
	}
	require.Empty(t, rows, "documented types the catalogue does not have")
}

// TestAsyncAPI: the document served at /api/asyncapi has one channel, one send
// operation, one message and one schema per catalogue type; each schema requires
// the envelope's attributes and the type's data members, and each message's
// example is the type's envelope.
func TestAsyncAPI(t *testing.T) {
	var doc struct {
		AsyncAPI   string                    `json:"asyncapi"`
		Channels   map[string]map[string]any `json:"channels"`
		Operations map[string]map[string]any `json:"operations"`
		Components map[string]map[string]any `json:"components"`
		Info       map[string]any            `json:"info"`
	}
	require.NoError(t, json.Unmarshal(AsyncAPI(), &doc))
	require.Equal(t, "3.0.0", doc.AsyncAPI)
	require.Len(t, doc.Channels, len(Catalogue))
	require.Len(t, doc.Operations, len(Catalogue))
	for _, et := range Catalogue {
		ch := doc.Channels[et.Type]
		require.Equal(t, et.Type, ch["address"])
		require.Equal(t, "send", doc.Operations["publish."+et.Type]["action"])
		schema := doc.Components["schemas"][et.Type].(map[string]any)
		data := schema["properties"].(map[string]any)["data"].(map[string]any)
		var want []any
		for _, f := range et.Data {
			want = append(want, f.Name)
		}
		require.Equal(t, want, data["required"])
		msg := doc.Components["messages"][et.Type].(map[string]any)
		ex := msg["examples"].([]any)[0].(map[string]any)["payload"].(map[string]any)
		require.Equal(t, et.Type, ex["type"])
		require.Equal(t, "application/cloudevents+json", msg["contentType"])
	}
	page := string(AsyncDoc())
	for _, et := range Catalogue {
		require.Contains(t, page, `id="`+et.Type+`"`)
	}
	require.NotContains(t, page, "<script")
}
