package alerta

import (
	"encoding/json"
	"fmt"
	"net/url"
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
	st, _, _ = b.Act(st.ID, &Action{Action: "ack"}, t0.Add(time.Second))
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

// FuzzBookQuery runs arbitrary GET /alerts query strings against a small book:
// no panic, and every success is valid JSON with the paging keys.
func FuzzBookQuery(f *testing.F) {
	for _, s := range []string{
		"", "status=open", "status!=open&severity=major&severity=minor", "resource=~WEB",
		"resource=~a&resource=~(b", "sort-by=-severity&sort-by=attributes.region", "id=Q&id=z",
		"page=2&page-size=1", "limit=-3", "tag=x&service=Web", "attributes.region!=EU",
		"from-date=2026-11-21T23:40:08.087Z", "q=x", "foo=1", "repeat=yes&duplicateCount=0",
	} {
		f.Add(s)
	}
	b := NewBook(10)
	for i, sev := range []string{"major", "minor", "ok"} {
		a := testAlert(fmt.Sprintf("Q%d", i), fmt.Sprintf("web%d", i), "E", sev)
		a.Attributes = []byte(`{"region":"EU"}`)
		a.Tags = []string{"x"}
		if _, _, _, err := b.Receive(a, t0); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		body, qerr := b.Query(q, "http://gw", t0.Add(time.Minute))
		if qerr != nil {
			require.Contains(t, []int{400, 416}, qerr.Code)
			return
		}
		var out map[string]any
		require.NoError(t, json.Unmarshal(body, &out))
		for _, k := range []string{"alerts", "total", "page", "pageSize", "pages", "more", "statusCounts", "severityCounts", "lastTime"} {
			require.Contains(t, out, k)
		}
	})
}
