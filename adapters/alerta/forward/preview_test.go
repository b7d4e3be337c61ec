package forward

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/alerta"
)

// TestPreview: the request the sink would send first, as it goes on the wire: a
// converted event's POST /alert with its loop header, an action's PUT, a delete's
// DELETE, the credential as ***; an event the filter keeps back sends nothing.
func TestPreview(t *testing.T) {
	s, err := New(Config{URL: "http://hq:8080/api/", Forward: []string{"alerts", "ack"}, Origin: "http://gw:1",
		APIKey: "Preview-Key-5t6y7u8i"}, testDeps())
	require.NoError(t, err)
	b, skip, err := s.Preview(&adapters.Event{ID: "e1", Kind: adapters.KindAlert, Source: "plc", Topic: "plant/pump7",
		Payload: []byte(`{"resource":"pump7","event":"pressure","severity":"major"}`)})
	require.NoError(t, err)
	require.Empty(t, skip)
	out := string(b)
	require.True(t, strings.HasPrefix(out, "POST /api/alert HTTP/1.1\r\n"), out)
	require.Contains(t, out, "Authorization: *** (api_key)")
	require.Contains(t, out, "X-Alerta-Loop: http://gw:1")
	require.Contains(t, out, `"resource": "pump7"`)
	require.NotContains(t, out, "Preview-Key-5t6y7u8i")

	ack := &adapters.Event{ID: "e2", Kind: adapters.KindAlert, Payload: []byte(`{"action":"ack","text":"on it"}`),
		Attrs: map[string]string{alerta.AttrOp: alerta.OpAction, alerta.AttrID: "a1b2"}}
	b, _, err = s.Preview(ack)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "PUT /api/alert/a1b2/action HTTP/1.1\r\n"), string(b))

	del := &adapters.Event{ID: "e3", Kind: adapters.KindAlert, Attrs: map[string]string{alerta.AttrOp: alerta.OpDelete, alerta.AttrID: "a1b2"}}
	_, skip, err = s.Preview(del)
	require.NoError(t, err)
	require.Contains(t, skip, "not forwarded", "delete is not in the filter")
}
