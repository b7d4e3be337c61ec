package receiver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/alerta/receiver"
)

// TestMaxStateBytesEvicts sends far more bytes of alerts than max_state_bytes:
// the receiver keeps what fits, every alert was answered 201 and published, and
// the table holds exactly the records of the alerts kept.
func TestMaxStateBytesEvicts(t *testing.T) {
	c := config("http://localhost:8080")
	c.MaxStateBytes = 8 * receiver.DefaultMaxBodyBytes // 128 KiB: alerts get 112 KiB
	n := start(t, c, options{})
	const sent = 20
	for i := range sent {
		body := fmt.Sprintf(`{"resource": "web%02d", "event": "E", "severity": "major", "text": %q}`, i, strings.Repeat("t", 8000))
		a := n.do("POST", "/alert", []byte(body))
		require.Equal(t, 201, a.status, "%s", a.body)
	}
	require.Len(t, n.rec.Accepted(), sent)
	kept := n.src.Len()
	require.Less(t, kept, sent)
	require.Greater(t, kept, 2)
	require.Equal(t, kept, n.tab.Len(), "the evicted alerts' records are deleted")
	// The newest are kept.
	q := n.do("GET", "/alerts?resource=web19", nil).json(t)
	require.EqualValues(t, 1, q["total"])
	q = n.do("GET", "/alerts?resource=web00", nil).json(t)
	require.EqualValues(t, 0, q["total"])
}

// TestHeartbeatOverStateBytes answers 413 for a heartbeat larger than the
// heartbeats' eighth of max_state_bytes, and publishes nothing for it.
func TestHeartbeatOverStateBytes(t *testing.T) {
	c := config("http://localhost:8080")
	c.MaxStateBytes = 8 * receiver.DefaultMaxBodyBytes // heartbeats: 16 KiB
	n := start(t, c, options{})
	prefix, suffix := `{"origin":"o","tags":["`, `"]}`
	tag := strings.Repeat("x", receiver.DefaultMaxBodyBytes-len(prefix)-len(suffix))
	for _, path := range []string{"/heartbeat", "/alert"} {
		body := prefix + tag + suffix
		if path == "/alert" {
			body = `{"resource":"gw","event":"Heartbeat","origin":"o","tags":["` + tag[:len(tag)-len(`"resource":"gw","event":"Heartbeat",`)] + suffix
		}
		require.Len(t, body, receiver.DefaultMaxBodyBytes)
		a := n.do("POST", path, []byte(body))
		require.Equal(t, 413, a.status, "%s: %.200s", path, a.body)
		require.Contains(t, string(a.body), "kept for all heartbeats")
	}
	require.Empty(t, n.rec.Accepted())
	require.Equal(t, 2, n.rejects()["too_large"])
	a := n.do("POST", "/heartbeat", []byte(`{"origin":"o","tags":["small"]}`))
	require.Equal(t, 201, a.status, "%s", a.body)
	require.Len(t, n.rec.Accepted(), 1)
}

// TestGetHeartbeatsPages pages GET /heartbeats as GET /alerts: page, page-size
// (at most 1000), 416 beyond the last page, 400 for an unknown filter.
func TestGetHeartbeatsPages(t *testing.T) {
	n := start(t, config("http://localhost:8080"), options{})
	for i := range 5 {
		n.now.Store(int64(1_800_000_000 + i))
		a := n.do("POST", "/heartbeat", fmt.Appendf(nil, `{"origin":"gw/%d","timeout":3600}`, i))
		require.Equal(t, 201, a.status, "%s", a.body)
	}
	type page struct {
		Heartbeats []struct{ Origin string }
		Total      int
		Page       int
		PageSize   int
		Pages      int
		More       bool
		Status     string
	}
	get := func(q string) page {
		t.Helper()
		a := n.do("GET", "/heartbeats"+q, nil)
		require.Equal(t, 200, a.status, "%s", a.body)
		var p page
		require.NoError(t, json.Unmarshal(a.body, &p))
		return p
	}
	p := get("")
	require.Equal(t, 5, p.Total)
	require.Len(t, p.Heartbeats, 5)
	require.Equal(t, "gw/4", p.Heartbeats[0].Origin, "newest first")
	require.Equal(t, 50, p.PageSize)
	p = get("?page=2&page-size=2")
	require.Equal(t, page{Heartbeats: p.Heartbeats, Total: 5, Page: 2, PageSize: 2, Pages: 3, More: true, Status: "ok"}, p)
	require.Equal(t, []string{"gw/2", "gw/1"}, []string{p.Heartbeats[0].Origin, p.Heartbeats[1].Origin})
	p = get("?page=3&page-size=2")
	require.Len(t, p.Heartbeats, 1)
	require.False(t, p.More)
	require.Equal(t, 1000, get("?page-size=5000").PageSize, "bounded")
	require.Equal(t, 1, get("?origin=gw/3").Total)
	require.Equal(t, 416, n.do("GET", "/heartbeats?page=4&page-size=2", nil).status)
	require.Equal(t, 400, n.do("GET", "/heartbeats?bogus=1", nil).status)
	require.Equal(t, 200, n.do("GET", "/heartbeats?api-key=x", nil, "Authorization", "").status, "api-key is no filter")
}

// TestActionEvictsAndUndo grows an alert by an action (a long status is copied
// into its previous statuses) until other alerts must go; when the relay refuses
// the action's event, the evicted alerts come back, in the book and the table.
func TestActionEvictsAndUndo(t *testing.T) {
	c := config("http://localhost:8080")
	c.MaxStateBytes = 8 * receiver.DefaultMaxBodyBytes // alerts: 112 KiB
	var refuse atomic.Bool
	n := start(t, c, options{rec: []adaptertest.RecorderOption{adaptertest.RejectWhen(func(e *adapters.Event, _ int) error {
		if refuse.Load() {
			return errors.New("refused by the test")
		}
		return nil
	})}})
	long := `{"id": "long-1", "resource": "gw", "event": "E", "severity": "major", "status": "assign` + strings.Repeat("x", 12000) + `"}`
	require.Equal(t, 201, n.do("POST", "/alert", []byte(long)).status)
	// Closed fillers: when the book is full they evict each other, not long-1.
	for i := range 12 {
		body := fmt.Sprintf(`{"resource": "f%02d", "event": "E", "severity": "normal", "text": %q}`, i, strings.Repeat("t", 4000))
		require.Equal(t, 201, n.do("POST", "/alert", []byte(body)).status)
	}
	before, tabBefore := n.src.Len(), n.tab.Len()
	require.Equal(t, before, tabBefore)

	refuse.Store(true)
	a := n.do("PUT", "/alert/long-1/action", []byte(`{"action": "ack"}`))
	require.Equal(t, 503, a.status, "%s", a.body)
	require.Equal(t, before, n.src.Len(), "the evicted alerts are back")
	require.Equal(t, tabBefore, n.tab.Len())

	refuse.Store(false)
	a = n.do("PUT", "/alert/long-1/action", []byte(`{"action": "ack"}`))
	require.Equal(t, 200, a.status, "%s", a.body)
	require.Less(t, n.src.Len(), before, "the action's growth evicted closed alerts")
	require.Equal(t, n.src.Len(), n.tab.Len())
	require.Equal(t, 200, n.do("GET", "/alert/long-1", nil).status, "the acted-on alert is never the one evicted")
}
