package alerta

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzStoredUnmarshal feeds arbitrary bytes to UnmarshalBinary: it must never
// panic, and whatever it accepts must encode back to the same bytes and render.
func FuzzStoredUnmarshal(f *testing.F) {
	b := NewBook(10)
	a := testAlert("f1", "web01", "HttpError", "major")
	a.Customer = strp("acme")
	a.Value = strp("500")
	a.RawData = strp("raw")
	a.Correlate = []string{"HttpError", "HttpOK"}
	a.Tags = []string{"dc1"}
	a.Attributes = []byte(`{"ip":"127.0.0.1","n":[1,{"x":null}]}`)
	st, _, _, _ := b.Receive(a, t0)
	st, _ = b.Act(st.ID, &Action{Action: "ack"}, t0.Add(time.Second))
	full := *st
	full.Body = []byte(`{"id": "f1"}`)
	for _, s := range []*Stored{st, &full} {
		enc, err := s.MarshalBinary()
		require.NoError(f, err)
		f.Add(enc)
	}
	min, _ := (&Stored{ID: "i", Resource: "r", Event: "e", Severity: "ok", Attributes: []byte("{}")}).MarshalBinary()
	f.Add(min)
	f.Add([]byte{})
	f.Add([]byte{storedVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Stored
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := s.MarshalBinary()
		require.NoError(t, err)
		var back Stored
		require.NoError(t, back.UnmarshalBinary(enc))
		require.Equal(t, s, back)
		_ = s.Output("http://x")
		NewBook(2).Load(&s)
	})
}
