package alerta

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 21, 23, 40, 8, 87_000_000, time.UTC)

func strp(s string) *string { return &s }

// testAlert is an Alert as DecodeAlert leaves it after defaults (§5.1), built
// directly so that the book's tests do not depend on the decoder.
func testAlert(id, resource, event, severity string) *Alert {
	return &Alert{
		ID:          id,
		Resource:    resource,
		Event:       event,
		Environment: "Production",
		Severity:    severity,
		Service:     []string{"Web"},
		Group:       "Misc",
		Attributes:  []byte("{}"),
		Origin:      "probe/1",
		Type:        "exceptionAlert",
		CreateTime:  t0,
		Timeout:     86400,
	}
}

func mustReceive(t *testing.T, b *Book, a *Alert, now time.Time) (*Stored, string) {
	t.Helper()
	st, kind, _, err := b.Receive(a, now)
	require.Nil(t, err)
	return st, kind
}

func TestReceiveDedupCorrelateCreate(t *testing.T) {
	b := NewBook(10)
	a := testAlert("a1", "web01", "HttpError", "major")
	a.Correlate = []string{"HttpError", "HttpOK"}
	a.Tags = []string{"dc1"}
	a.Attributes = []byte(`{"ip":"127.0.0.1","region":"EU"}`)
	st, kind := mustReceive(t, b, a, t0.Add(time.Second))
	require.Equal(t, KindNew, kind)
	require.Equal(t, "a1", st.ID)
	require.Equal(t, "a1", st.LastReceiveID)
	require.Equal(t, "open", st.Status)
	require.Equal(t, "indeterminate", st.PreviousSeverity)
	require.Equal(t, "moreSevere", st.TrendIndication)
	require.Equal(t, 0, st.DuplicateCount)
	require.False(t, st.Repeat)
	require.Equal(t, "Production|web01|HttpError", st.DedupKey)
	first := st

	// Duplicate: same env, resource, event, severity, customer; new id folds in.
	d := testAlert("a2", "web01", "HttpError", "major")
	d.Tags = []string{"dc2", "dc1"}
	d.Attributes = []byte(`{"region":"US","rack":"r9"}`)
	d.Text = "still down"
	d.Value = strp("503")
	d.Service = []string{"Web", "API"}
	d.Group = "Other"
	st, kind = mustReceive(t, b, d, t0.Add(2*time.Second))
	require.Equal(t, KindDuplicate, kind)
	require.Equal(t, "a1", st.ID)
	require.Equal(t, "a2", st.LastReceiveID)
	require.Equal(t, 1, st.DuplicateCount)
	require.True(t, st.Repeat)
	require.Equal(t, []string{"dc1", "dc2"}, st.Tags)
	require.JSONEq(t, `{"ip":"127.0.0.1","region":"US","rack":"r9"}`, string(st.Attributes))
	require.Equal(t, "still down", st.Text)
	require.Equal(t, "503", *st.Value)
	require.Equal(t, []string{"Web", "API"}, st.Service)
	require.Equal(t, "Misc", st.Group, "a duplicate does not overwrite group")
	require.Equal(t, t0.Add(2*time.Second), st.LastReceiveTime)
	require.Equal(t, t0.Add(time.Second), st.ReceiveTime, "a duplicate keeps receiveTime")
	require.Equal(t, t0.Add(time.Second), st.UpdateTime, "no status change: updateTime stays")
	require.Equal(t, 1, b.Len())
	require.Equal(t, 0, first.DuplicateCount, "a returned Stored is never modified")

	// Correlated by the same event with another severity.
	c := testAlert("a3", "web01", "HttpError", "critical")
	st, kind = mustReceive(t, b, c, t0.Add(3*time.Second))
	require.Equal(t, KindCorrelated, kind)
	require.Equal(t, "a1", st.ID)
	require.Equal(t, "a3", st.LastReceiveID)
	require.Equal(t, "critical", st.Severity)
	require.Equal(t, "major", st.PreviousSeverity)
	require.Equal(t, "moreSevere", st.TrendIndication)
	require.Equal(t, 0, st.DuplicateCount)
	require.False(t, st.Repeat)
	require.Equal(t, t0.Add(3*time.Second), st.ReceiveTime)

	// Correlated by the correlate list: HttpOK, normal → closed, less severe.
	ok := testAlert("a4", "web01", "HttpOK", "normal")
	st, kind = mustReceive(t, b, ok, t0.Add(4*time.Second))
	require.Equal(t, KindCorrelated, kind)
	require.Equal(t, "a1", st.ID)
	require.Equal(t, "HttpOK", st.Event)
	require.Equal(t, "closed", st.Status)
	require.Equal(t, "lessSevere", st.TrendIndication)
	require.Equal(t, t0.Add(4*time.Second), st.UpdateTime)
	require.Equal(t, "Production|web01|HttpError", st.DedupKey, "the dedup key survives correlation")
	require.Equal(t, 1, b.Len())

	// Closed, then a non-normal severity re-opens it (correlation back to HttpError).
	again := testAlert("a5", "web01", "HttpError", "minor")
	st, kind = mustReceive(t, b, again, t0.Add(5*time.Second))
	require.Equal(t, KindCorrelated, kind)
	require.Equal(t, "open", st.Status)
	require.Equal(t, "HttpError", st.Event)

	// Another resource: created.
	other := testAlert("b1", "web02", "HttpError", "minor")
	st, kind = mustReceive(t, b, other, t0.Add(6*time.Second))
	require.Equal(t, KindNew, kind)
	require.Equal(t, 2, b.Len())

	// Another customer is another alert; null matches only null.
	cust := testAlert("c1", "web02", "HttpError", "minor")
	cust.Customer = strp("acme")
	_, kind = mustReceive(t, b, cust, t0.Add(7*time.Second))
	require.Equal(t, KindNew, kind)
	cust2 := testAlert("c2", "web02", "HttpError", "minor")
	cust2.Customer = strp("acme")
	st, kind = mustReceive(t, b, cust2, t0.Add(8*time.Second))
	require.Equal(t, KindDuplicate, kind)
	require.Equal(t, "c1", st.ID)
}

func TestReceiveErrors(t *testing.T) {
	b := NewBook(10)
	mustReceive(t, b, testAlert("x1", "web01", "HttpError", "major"), t0)
	before := b.All()
	for _, tc := range []struct {
		name string
		a    *Alert
		code int
		msg  string
	}{
		{"reused id", testAlert("x1", "db01", "Disk", "major"), 500, `duplicate key value violates unique constraint "alerts_pkey"`},
		{"bad severity", testAlert("x2", "db01", "Disk", "huge"), 500, "Severity (huge) is not one of security, critical, major, minor, warning, indeterminate, informational, normal, ok, cleared, debug, trace, unknown"},
		{"no resource", testAlert("x3", "", "Disk", "major"), 400, `Missing mandatory value for "resource"`},
		{"no event", testAlert("x4", "db01", "", "major"), 400, `Missing mandatory value for "event"`},
		{"attributes not an object", func() *Alert {
			a := testAlert("x5", "db01", "Disk", "major")
			a.Attributes = []byte(`[1]`)
			return a
		}(), 400, "attributes must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := b.Receive(tc.a, t0.Add(time.Minute))
			require.NotNil(t, err)
			require.Equal(t, tc.code, err.Code)
			require.Equal(t, tc.msg, err.Message)
			require.Equal(t, before, b.All(), "an error leaves the book unchanged")
		})
	}
}

func TestReceiveStatusRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		severity string
		status   string
		want     string
	}{
		{"default open", "major", "", "open"},
		{"no severity is normal: closed", "", "", "closed"},
		{"ok closes", "ok", "", "closed"},
		{"cleared closes", "cleared", "", "closed"},
		{"SET keeps a sender's status", "major", "ack", "ack"},
		{"SET normal still closes", "normal", "shelved", "closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBook(10)
			a := testAlert("s1", "web01", "E", tc.severity)
			a.Status = tc.status
			st, _ := mustReceive(t, b, a, t0)
			require.Equal(t, tc.want, st.Status)
		})
	}
}

// actTo puts a fresh alert through actions to reach a state.
func actTo(t *testing.T, actions ...string) (*Book, *Stored) {
	t.Helper()
	b := NewBook(10)
	st, _ := mustReceive(t, b, testAlert("id-1", "web01", "HttpError", "major"), t0)
	now := t0
	for _, a := range actions {
		now = now.Add(time.Second)
		var err *Error
		st, err = b.Act(st.ID, &Action{Action: a, Text: a + " operator action"}, now)
		require.Nil(t, err, "setup action %s", a)
	}
	return b, st
}

func TestActTable(t *testing.T) {
	for _, tc := range []struct {
		from    []string // actions from open to reach the starting state
		action  string
		status  string // wanted status
		sev     string // wanted severity ("" = unchanged major)
		errCode int
		errMsg  string
	}{
		{nil, "ack", "ack", "", 0, ""},
		{nil, "shelve", "shelved", "", 0, ""},
		{nil, "close", "closed", "normal", 0, ""},
		{nil, "open", "", "", 409, "alert is already in open status"},
		{[]string{"ack"}, "open", "open", "", 0, ""},
		{[]string{"ack"}, "shelve", "shelved", "", 0, ""},
		{[]string{"ack"}, "close", "closed", "normal", 0, ""},
		{[]string{"ack"}, "ack", "", "", 409, "alert is already in ack status"},
		{[]string{"ack"}, "unack", "open", "", 0, ""},
		{nil, "unack", "", "", 409, "invalid action for current open status"},
		{[]string{"shelve"}, "unack", "", "", 409, "invalid action for current shelved status"},
		{[]string{"shelve"}, "open", "open", "", 0, ""},
		{[]string{"shelve"}, "close", "closed", "normal", 0, ""},
		{[]string{"shelve"}, "ack", "", "", 409, "invalid action for current shelved status"},
		{[]string{"shelve"}, "shelve", "", "", 409, "alert is already in shelved status"},
		{[]string{"shelve"}, "unshelve", "open", "", 0, ""},
		{[]string{"ack", "shelve"}, "unshelve", "ack", "", 0, ""},
		{nil, "unshelve", "", "", 409, "invalid action for current open status"},
		{[]string{"ack"}, "unshelve", "", "", 409, "invalid action for current ack status"},
		{[]string{"close"}, "open", "open", "major", 0, ""},
		{[]string{"close"}, "ack", "", "", 409, "invalid action for current closed status"},
		{[]string{"close"}, "shelve", "", "", 409, "invalid action for current closed status"},
		{[]string{"close"}, "close", "", "", 409, "alert is already in closed status"},
		{[]string{"expired"}, "ack", "", "", 409, "invalid action for current expired status"},
		{[]string{"expired"}, "close", "", "", 409, "invalid action for current expired status"},
		{[]string{"expired"}, "unack", "", "", 409, "invalid action for current expired status"},
		{[]string{"expired"}, "open", "open", "", 0, ""},
		{nil, "expired", "expired", "", 0, ""},
		{[]string{"ack"}, "expired", "expired", "", 0, ""},
		{[]string{"close"}, "expired", "expired", "normal", 0, ""},
		{[]string{"ack"}, "timeout", "open", "", 0, ""},          // previous status open
		{[]string{"ack", "shelve"}, "timeout", "ack", "", 0, ""}, // previous status ack
		{nil, "timeout", "open", "", 0, ""},
		{nil, "createIssue", "open", "", 0, ""},
		{[]string{"ack"}, "createIssue", "ack", "", 0, ""},
		{[]string{"close"}, "createIssue", "closed", "normal", 0, ""},
		{nil, "assign", "open", "", 0, ""},
	} {
		name := strings.Join(append(append([]string{"open"}, tc.from...), tc.action), "→")
		t.Run(name, func(t *testing.T) {
			b, cur := actTo(t, tc.from...)
			st, err := b.Act(cur.ID, &Action{Action: tc.action}, t0.Add(time.Hour))
			if tc.errCode != 0 {
				require.NotNil(t, err)
				require.Equal(t, tc.errCode, err.Code)
				require.Equal(t, tc.errMsg, err.Message)
				got, _ := b.Get(cur.ID)
				require.Equal(t, cur, got, "a refused action changes nothing")
				return
			}
			require.Nil(t, err)
			require.Equal(t, tc.status, st.Status)
			sev := tc.sev
			if sev == "" {
				sev = "major"
			}
			require.Equal(t, sev, st.Severity)
			require.Equal(t, t0.Add(time.Hour), st.UpdateTime)
		})
	}
}

func TestActSeverityBookkeeping(t *testing.T) {
	b, st := actTo(t, "close")
	require.Equal(t, "normal", st.Severity)
	require.Equal(t, "major", st.PreviousSeverity, "close keeps the severity it replaced")
	st, err := b.Act(st.ID, &Action{Action: "open"}, t0.Add(time.Hour))
	require.Nil(t, err)
	require.Equal(t, "major", st.Severity, "open restores the previous severity")
	require.Equal(t, "normal", st.PreviousSeverity)

	_, err = b.Act("nope", &Action{Action: "ack"}, t0)
	require.Equal(t, &Error{Code: 404, Message: "not found"}, err)
}

func TestAckReopensOnMoreSevereCorrelation(t *testing.T) {
	b, st := actTo(t, "ack")
	// Same severity duplicate: stays ack.
	st2, kind := mustReceive(t, b, testAlert("d1", "web01", "HttpError", "major"), t0.Add(time.Minute))
	require.Equal(t, KindDuplicate, kind)
	require.Equal(t, "ack", st2.Status)
	// Less severe: stays ack.
	st2, _ = mustReceive(t, b, testAlert("d2", "web01", "HttpError", "minor"), t0.Add(2*time.Minute))
	require.Equal(t, "ack", st2.Status)
	// More severe than the stored severity: re-opens (ACK-4).
	st2, _ = mustReceive(t, b, testAlert("d3", "web01", "HttpError", "critical"), t0.Add(3*time.Minute))
	require.Equal(t, "open", st2.Status)
	require.Equal(t, st.ID, st2.ID)
}

func TestClosedShelvedReopensShelved(t *testing.T) {
	b, st := actTo(t, "shelve")
	// A normal alert closes the shelved one (CLS-*); the history's previous status
	// is then shelved, so the next non-normal alert returns it to shelved (CLS-2).
	st, _ = mustReceive(t, b, testAlert("n1", "web01", "HttpError", "normal"), t0.Add(time.Minute))
	require.Equal(t, "closed", st.Status)
	st, _ = mustReceive(t, b, testAlert("n2", "web01", "HttpError", "major"), t0.Add(2*time.Minute))
	require.Equal(t, "shelved", st.Status)
}

// TestFederationConsequences follows §6: the first forward creates the remote
// alert with the sender's id; later duplicates and correlations carry the sender's
// lastReceiveId and fold in; actions find the alert by the original id, an 8-char
// prefix, any case, or the lastReceiveId.
func TestFederationConsequences(t *testing.T) {
	b := NewBook(100)
	const orig = "2f445c96-32f9-43b1-b090-27a77f47b1b1"
	st, kind := mustReceive(t, b, testAlert(orig, "web01", "HttpError", "major"), t0)
	require.Equal(t, KindNew, kind)
	require.Equal(t, orig, st.ID)
	ids := []string{"7d1c0a3e-0000-4000-8000-000000000001", "7d1c0a3e-0000-4000-8000-000000000002"}
	for i, id := range ids {
		st, kind = mustReceive(t, b, testAlert(id, "web01", "HttpError", "major"), t0.Add(time.Duration(i+1)*time.Second))
		require.Equal(t, KindDuplicate, kind)
		require.Equal(t, orig, st.ID)
		require.Equal(t, id, st.LastReceiveID)
	}
	corr := "9a9a9a9a-0000-4000-8000-000000000003"
	st, kind = mustReceive(t, b, testAlert(corr, "web01", "HttpError", "critical"), t0.Add(time.Minute))
	require.Equal(t, KindCorrelated, kind)
	require.Equal(t, corr, st.LastReceiveID)

	for _, ref := range []string{orig, orig[:8], strings.ToUpper(orig[:8]), strings.ToUpper(orig), corr, corr[:8], "2f4"} {
		got, ok := b.Resolve(ref)
		require.True(t, ok, ref)
		require.Equal(t, orig, got.ID, ref)
	}
	// An old lastReceiveId no longer names it.
	_, ok := b.Resolve(ids[0])
	require.False(t, ok)
	_, ok = b.Resolve("")
	require.False(t, ok)
	_, ok = b.Resolve("2f445c96-x")
	require.False(t, ok)

	st, err := b.Act(orig[:8], &Action{Action: "ack"}, t0.Add(2*time.Minute))
	require.Nil(t, err)
	require.Equal(t, "ack", st.Status)
	st, err = b.Act(corr, &Action{Action: "unack"}, t0.Add(3*time.Minute))
	require.Nil(t, err)
	require.Equal(t, "open", st.Status)

	del, ok := b.Delete(strings.ToUpper(orig[:8]))
	require.True(t, ok)
	require.Equal(t, orig, del.ID)
	require.Equal(t, 0, b.Len())
	_, ok = b.Resolve(corr)
	require.False(t, ok)
}

func TestResolvePrefersExactThenNewest(t *testing.T) {
	b := NewBook(10)
	mustReceive(t, b, testAlert("abc", "r1", "E", "major"), t0)
	mustReceive(t, b, testAlert("abcd", "r2", "E", "major"), t0.Add(time.Second))
	mustReceive(t, b, testAlert("abce", "r3", "E", "major"), t0.Add(2*time.Second))
	st, ok := b.Resolve("abc")
	require.True(t, ok)
	require.Equal(t, "abc", st.ID, "an exact id wins")
	st, _ = b.Resolve("ABC")
	require.Equal(t, "abce", st.ID, "else the most recently received")
}

func TestEvictionOrder(t *testing.T) {
	b := NewBook(3)
	mustReceive(t, b, testAlert("o1", "r1", "E", "major"), t0)
	mustReceive(t, b, testAlert("c1", "r2", "E", "normal"), t0.Add(time.Second)) // closed
	mustReceive(t, b, testAlert("o2", "r3", "E", "major"), t0.Add(2*time.Second))
	// Full: the oldest closed goes first even though o1 is older.
	_, _, ev, err := b.Receive(testAlert("o3", "r4", "E", "major"), t0.Add(3*time.Second))
	require.Nil(t, err)
	require.Equal(t, []string{"c1"}, ev)
	// None closed: the oldest by lastReceiveTime.
	_, _, ev, err = b.Receive(testAlert("o4", "r5", "E", "major"), t0.Add(4*time.Second))
	require.Nil(t, err)
	require.Equal(t, []string{"o1"}, ev)
	// A duplicate refreshes lastReceiveTime, so o2 is no longer the oldest.
	mustReceive(t, b, testAlert("o2b", "r3", "E", "major"), t0.Add(5*time.Second))
	_, _, ev, err = b.Receive(testAlert("o5", "r6", "E", "major"), t0.Add(6*time.Second))
	require.Nil(t, err)
	require.Equal(t, []string{"o3"}, ev)
	// An expired alert goes before open ones; a closed new alert never evicts itself.
	_, err = b.Act("o4", &Action{Action: "expired"}, t0.Add(7*time.Second))
	require.Nil(t, err)
	_, _, ev, err = b.Receive(testAlert("c2", "r7", "E", "ok"), t0.Add(8*time.Second))
	require.Nil(t, err)
	require.Equal(t, []string{"o4"}, ev)
	_, _, ev, err = b.Receive(testAlert("c3", "r8", "E", "ok"), t0.Add(9*time.Second))
	require.Nil(t, err)
	require.Equal(t, []string{"c2"}, ev)
	require.Equal(t, 3, b.Len())
	for _, id := range []string{"o2", "o5", "c3"} {
		_, ok := b.Get(id)
		require.True(t, ok, id)
	}
	// The indexes forget evicted alerts entirely.
	_, ok := b.Resolve("o1")
	require.False(t, ok)
	_, kind := mustReceive(t, b, testAlert("o1again", "r1", "E", "major"), t0.Add(10*time.Second))
	require.Equal(t, KindNew, kind)
}

func TestMatchAndUndo(t *testing.T) {
	b := NewBook(10)
	mustReceive(t, b, testAlert("u1", "web01", "E", "major"), t0)
	a := testAlert("u2", "web01", "E", "critical")
	prev, kind := b.Match(a)
	require.Equal(t, KindCorrelated, kind)
	st, _ := mustReceive(t, b, a, t0.Add(time.Second))
	require.Equal(t, "critical", st.Severity)
	b.Load(prev) // undo
	got, _ := b.Get("u1")
	require.Equal(t, prev, got)
	_, ok := b.Resolve("u2")
	require.False(t, ok, "the undone lastReceiveId is forgotten")
	_, kind = b.Match(testAlert("u3", "web01", "E", "major"))
	require.Equal(t, KindDuplicate, kind)

	n := testAlert("u9", "db01", "E", "major")
	prev, kind = b.Match(n)
	require.Nil(t, prev)
	require.Equal(t, KindNew, kind)
}

func TestStoredBinaryRoundTrip(t *testing.T) {
	b := NewBook(10)
	a := testAlert("rt1", "web01", "HttpError", "major")
	a.Customer = strp("acme")
	a.Value = strp("500")
	a.RawData = strp("raw\x00data")
	a.Correlate = []string{"HttpError", "HttpOK"}
	a.Tags = []string{"dc1", "ünï"}
	a.Attributes = []byte(`{"ip":"127.0.0.1","n":{"x":[1,2.5,null]}}`)
	st, _ := mustReceive(t, b, a, t0)
	st, _ = b.Act(st.ID, &Action{Action: "ack"}, t0.Add(time.Second))
	st2 := *st
	st2.Body = []byte(`{"id": "rt1"}`)
	st = &st2

	enc, err := st.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, len(enc), st.Size())
	var got Stored
	require.NoError(t, got.UnmarshalBinary(enc))
	require.Equal(t, *st, got)

	// Over a limit: the Body goes first, then rawData, then an error.
	limit := len(enc) - 1
	small, err := st.MarshalBinaryLimit(limit)
	require.NoError(t, err)
	require.LessOrEqual(t, len(small), limit)
	require.NoError(t, got.UnmarshalBinary(small))
	require.Nil(t, got.Body)
	require.NotNil(t, got.RawData)
	smaller, err := st.MarshalBinaryLimit(len(small) - 1)
	require.NoError(t, err)
	require.NoError(t, got.UnmarshalBinary(smaller))
	require.Nil(t, got.RawData)
	_, err = st.MarshalBinaryLimit(10)
	require.ErrorIs(t, err, ErrStoredTooLarge)

	// Every truncation and a trailing byte are errors, never panics.
	for i := range enc {
		require.Error(t, new(Stored).UnmarshalBinary(enc[:i]), "truncated at %d", i)
	}
	require.Error(t, new(Stored).UnmarshalBinary(append(append([]byte(nil), enc...), 0)))
	bad := append([]byte(nil), enc...)
	bad[0] = 9
	require.ErrorContains(t, new(Stored).UnmarshalBinary(bad), "version 9")
}

func TestLoadRestores(t *testing.T) {
	b := NewBook(10)
	a := testAlert("l1", "web01", "HttpError", "major")
	a.Correlate = []string{"HttpError", "HttpOK"}
	st, _ := mustReceive(t, b, a, t0)
	enc, _ := st.MarshalBinary()

	r := NewBook(10)
	var back Stored
	require.NoError(t, back.UnmarshalBinary(enc))
	require.Empty(t, r.Load(&back))
	got, ok := r.Resolve("L1")
	require.True(t, ok)
	require.Equal(t, st, got)
	// The restored book correlates and de-duplicates as the original.
	_, kind := mustReceive(t, r, testAlert("l2", "web01", "HttpOK", "ok"), t0.Add(time.Second))
	require.Equal(t, KindCorrelated, kind)

	// Loading beyond the size evicts.
	small := NewBook(1)
	small.Load(&back)
	other := back
	other.ID, other.LastReceiveID, other.Resource = "l9", "l9", "web09"
	require.Equal(t, []string{"l1"}, small.Load(&other))
}

func TestMaxStored(t *testing.T) {
	b := NewBook(10)
	b.MaxStored = 400
	mustReceive(t, b, testAlert("m1", "web01", "E", "major"), t0)
	before := b.All()
	big := testAlert("m2", "web01", "E", "major")
	big.Attributes = []byte(`{"blob":"` + strings.Repeat("x", 500) + `"}`)
	_, _, _, err := b.Receive(big, t0.Add(time.Second))
	require.NotNil(t, err)
	require.Equal(t, 413, err.Code)
	require.Equal(t, before, b.All())
}

func TestOutput(t *testing.T) {
	b := NewBook(10)
	a := testAlert("2f445c96", "web01", "HttpError", "major")
	a.Correlate = []string{"HttpError", "HttpOK"}
	a.Tags = []string{"dc1"}
	a.Text = "Site <down> ü 😀 \"q\"\n\x7f"
	a.Value = strp("500")
	a.Attributes = []byte(`{"region":"EU","ip":"127.0.0.1","z":{"b":1,"a":[true,null,"é"]}}`)
	st, _ := mustReceive(t, b, a, t0.Add(1500*time.Microsecond))
	out := st.Output("http://gw:8977/alerta")
	want := `{"attributes":{"ip":"127.0.0.1","region":"EU","z":{"a":[true,null,"\u00e9"],"b":1}},` +
		`"correlate":["HttpError","HttpOK"],"createTime":"2026-11-21T23:40:08.087Z","customer":null,` +
		`"duplicateCount":0,"environment":"Production","event":"HttpError","group":"Misc","history":[],` +
		`"href":"http://gw:8977/alerta/alert/2f445c96","id":"2f445c96","lastReceiveId":"2f445c96",` +
		`"lastReceiveTime":"2026-11-21T23:40:08.088Z","origin":"probe/1","previousSeverity":"indeterminate",` +
		`"rawData":null,"receiveTime":"2026-11-21T23:40:08.088Z","repeat":false,"resource":"web01",` +
		`"service":["Web"],"severity":"major","status":"open","tags":["dc1"],` +
		`"text":"Site <down> \u00fc \ud83d\ude00 \"q\"\n\u007f","timeout":86400,"trendIndication":"moreSevere",` +
		`"type":"exceptionAlert","updateTime":"2026-11-21T23:40:08.088Z","value":"500"}`
	require.Equal(t, want, string(out))
	require.True(t, json.Valid(out))
}

func TestQuery(t *testing.T) {
	b := NewBook(100)
	for i, tc := range []struct{ id, res, ev, sev string }{
		{"q1", "web01", "HttpError", "major"},
		{"q2", "web02", "HttpError", "critical"},
		{"q3", "db01", "DiskFull", "minor"},
		{"q4", "db02", "DiskFull", "normal"},
	} {
		a := testAlert(tc.id, tc.res, tc.ev, tc.sev)
		if tc.id == "q3" {
			a.Service = []string{"DB"}
			a.Tags = []string{"t1", "t2"}
			a.Attributes = []byte(`{"region":"EU"}`)
		}
		mustReceive(t, b, a, t0.Add(time.Duration(i)*time.Second))
	}
	now := t0.Add(time.Minute)
	type answer struct {
		Alerts         []map[string]any `json:"alerts"`
		Total          int              `json:"total"`
		Page           int              `json:"page"`
		PageSize       int              `json:"pageSize"`
		Pages          int              `json:"pages"`
		More           bool             `json:"more"`
		Message        string           `json:"message"`
		StatusCounts   map[string]int   `json:"statusCounts"`
		SeverityCounts map[string]int   `json:"severityCounts"`
		LastTime       string           `json:"lastTime"`
		AutoRefresh    bool             `json:"autoRefresh"`
		Status         string           `json:"status"`
	}
	ids := func(a answer) []string {
		var out []string
		for _, al := range a.Alerts {
			out = append(out, al["id"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		query string
		ids   []string
		code  int
		msg   string
	}{
		{"", []string{"q4", "q3", "q2", "q1"}, 0, ""},
		{"status=open", []string{"q3", "q2", "q1"}, 0, ""},
		{"status!=open", []string{"q4"}, 0, ""},
		{"severity=major&severity=critical", []string{"q2", "q1"}, 0, ""},
		{"environment=Production&event=DiskFull", []string{"q4", "q3"}, 0, ""},
		{"resource=~WEB", []string{"q2", "q1"}, 0, ""},
		{"resource=~^web0&resource=~db02", []string{"q4", "q2", "q1"}, 0, ""},
		{"service=DB&service=Nope", []string{"q3"}, 0, ""},
		{"tag=t2", []string{"q3"}, 0, ""},
		{"attributes.region=EU", []string{"q3"}, 0, ""},
		{"id=q2", []string{"q2"}, 0, ""},
		{"id=Q2&id=q3", []string{"q3", "q2"}, 0, ""},
		{"value=1", nil, 0, ""},
		{"value!=1", nil, 0, ""}, // NULL matches neither
		{"sort-by=severity", []string{"q2", "q1", "q3", "q4"}, 0, ""},
		{"sort-by=-severity", []string{"q4", "q3", "q1", "q2"}, 0, ""},
		{"sort-by=resource", []string{"q3", "q4", "q1", "q2"}, 0, ""},
		{"sort-by=lastReceiveTime", []string{"q4", "q3", "q2", "q1"}, 0, ""},
		{"sort-by=-lastReceiveTime", []string{"q1", "q2", "q3", "q4"}, 0, ""},
		{"to-date=2026-11-21T23:40:09.100Z", []string{"q2", "q1"}, 0, ""},
		{"from-date=2026-11-21T23:40:09.100Z", []string{"q4", "q3"}, 0, ""},
		{"foo=bar", nil, 400, "Invalid filter parameter: foo"},
		{"foo!=bar", nil, 400, "Invalid filter parameter: foo!"},
		{"tags=t1", nil, 400, "Invalid filter parameter: tags"},
		{"sort-by=id", nil, 400, "Sorting by 'id' field not supported."},
		{"q=resource:web01", nil, 400, "query syntax (q) is not supported"},
		{"page=3&page-size=2", nil, 416, "page out of range: 1-2"},
		{"page=0", nil, 416, "page out of range: 1-1"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			body, qerr := b.Query(q, "http://gw/alerta", now)
			if tc.code != 0 {
				require.NotNil(t, qerr)
				require.Equal(t, tc.code, qerr.Code)
				require.Equal(t, tc.msg, qerr.Message)
				return
			}
			require.Nil(t, qerr)
			var a answer
			require.NoError(t, json.Unmarshal(body, &a))
			require.Equal(t, tc.ids, ids(a))
			require.Equal(t, len(tc.ids), a.Total)
			require.Equal(t, "ok", a.Status)
			require.True(t, a.AutoRefresh)
			if len(tc.ids) == 0 {
				require.Equal(t, "not found", a.Message)
				require.Equal(t, 0, a.Pages)
				require.Equal(t, []map[string]any{}, a.Alerts)
			}
		})
	}

	// Paging, counts, lastTime, rawData hidden unless asked.
	body, qerr := b.Query(url.Values{"page": {"2"}, "page-size": {"3"}}, "http://gw", now)
	require.Nil(t, qerr)
	var a answer
	require.NoError(t, json.Unmarshal(body, &a))
	require.Equal(t, []string{"q1"}, ids(a))
	require.Equal(t, 4, a.Total)
	require.Equal(t, 2, a.Pages)
	require.Equal(t, 3, a.PageSize)
	require.False(t, a.More)
	require.Equal(t, map[string]int{"open": 3, "closed": 1}, a.StatusCounts)
	require.Equal(t, map[string]int{"major": 1, "critical": 1, "minor": 1, "normal": 1}, a.SeverityCounts)
	require.Equal(t, "2026-11-21T23:40:08.087Z", a.LastTime)
	require.True(t, strings.HasPrefix(string(body), `{"alerts":[{`), "keys sorted")

	body, _ = b.Query(url.Values{"limit": {"1"}}, "http://gw", now)
	require.NoError(t, json.Unmarshal(body, &a))
	require.Equal(t, 1, a.PageSize)
	require.True(t, a.More)
	require.Equal(t, 4, a.Pages)
}

func TestHeartbeats(t *testing.T) {
	b := NewBook(10)
	n := 0
	b.NewID = func() string { n++; return fmt.Sprintf("hb-%d", n) }
	h := &Heartbeat{Origin: "gw/1", Tags: []string{"x"}, Attributes: []byte(`{"b":1,"a":2}`), Timeout: 60, CreateTime: t0}
	hb := b.Beat(h, t0.Add(1500*time.Millisecond))
	require.Equal(t, "hb-1", hb.ID)
	out := hb.Output("http://gw/alerta", t0.Add(10*time.Second))
	require.Equal(t, `{"attributes":{"a":2,"b":1},"createTime":"2026-11-21T23:40:08.087Z","customer":null,`+
		`"href":"http://gw/alerta/heartbeat/hb-1","id":"hb-1","latency":1500,"maxLatency":2000,"origin":"gw/1",`+
		`"receiveTime":"2026-11-21T23:40:09.587Z","since":8,"status":"ok","tags":["x"],"timeout":60,"type":"Heartbeat"}`, string(out))

	// Upsert on (origin, customer): the id stays.
	h2 := *h
	h2.ID = "other"
	h2.CreateTime = t0.Add(time.Minute)
	hb = b.Beat(&h2, t0.Add(time.Minute+3*time.Second))
	require.Equal(t, "hb-1", hb.ID)
	require.Equal(t, "slow", hb.Status(t0.Add(time.Minute+3*time.Second)))
	require.Equal(t, "expired", hb.Status(t0.Add(3*time.Minute)))
	h3 := *h
	h3.Customer = strp("acme")
	require.Equal(t, "hb-2", b.Beat(&h3, t0).ID)
	require.Len(t, b.Heartbeats(), 2)

	// Bounded: the least recently received goes.
	b.maxBeats = 2
	h4 := *h
	h4.Origin = "gw/2"
	b.Beat(&h4, t0.Add(time.Hour))
	got := b.Heartbeats()
	require.Len(t, got, 2)
	require.Equal(t, "gw/1", got[0].Origin)
	require.Nil(t, got[0].Customer, "the acme one, received at t0, was evicted")
}

func TestObjectMembers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		keys []string
	}{
		{`{}`, true, nil},
		{`{"a":1,"b":{"c":2},"a":3}`, true, []string{"a", "b"}},
		{`[]`, false, nil},
		{`{"a":1} x`, false, nil},
		{`{"a":`, false, nil},
		{``, false, nil},
	} {
		ms, err := objectMembers([]byte(tc.in))
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		var keys []string
		for _, m := range ms {
			keys = append(keys, m.key)
		}
		require.Equal(t, tc.keys, keys, tc.in)
	}
	require.Equal(t, `{"a":3,"b":{"c":2},"d":"x"}`, string(mergeObjects([]byte(`{"a":1,"b":{"c":2}}`), []byte(`{"a":3,"d":"x"}`))))
}

// TestIncomingAlertTransitions covers §5.2's last row and the ALERTA rules an
// incoming alert (no action) meets in every state.
func TestIncomingAlertTransitions(t *testing.T) {
	for _, tc := range []struct {
		from     []string
		severity string
		want     string
	}{
		{nil, "normal", "closed"},
		{[]string{"ack"}, "normal", "closed"},
		{[]string{"shelve"}, "ok", "closed"},
		{[]string{"expired"}, "cleared", "closed"},
		{[]string{"expired"}, "major", "open"}, // EXP-1, a duplicate re-opens
		{[]string{"expired"}, "minor", "open"},
		{[]string{"close"}, "major", "open"}, // CLS-3
		{[]string{"close"}, "normal", "closed"},
		{[]string{"ack"}, "major", "ack"},
		{[]string{"shelve"}, "critical", "shelved"},
	} {
		name := strings.Join(append(append([]string{"open"}, tc.from...), tc.severity), "→")
		t.Run(name, func(t *testing.T) {
			b, cur := actTo(t, tc.from...)
			st, _ := mustReceive(t, b, testAlert("in-1", "web01", "HttpError", tc.severity), t0.Add(time.Hour))
			require.Equal(t, cur.ID, st.ID)
			require.Equal(t, tc.want, st.Status)
		})
	}
}

func TestActBadInput(t *testing.T) {
	b := NewBook(10)
	_, err := b.Act("nope", &Action{}, t0)
	require.Equal(t, &Error{Code: 400, Message: "must supply 'action' as json data"}, err, "400 comes before the lookup")
	_, err = b.Act("nope", nil, t0)
	require.Equal(t, 400, err.Code)

	a := testAlert("e1", "web01", "E", "major")
	a.Customer = strp("")
	_, _, _, rerr := b.Receive(a, t0)
	require.Equal(t, 400, rerr.Code)
	a = testAlert("e1", "web01", "E", "major")
	a.Timeout = -1
	_, _, _, rerr = b.Receive(a, t0)
	require.Equal(t, 400, rerr.Code)
	require.Equal(t, 0, b.Len())
}

func TestQueryHeartbeats(t *testing.T) {
	b := NewBook(10)
	b.NewID = func() string { return fmt.Sprintf("hb-%d", len(b.beats)) }
	b.Beat(&Heartbeat{Origin: "gw/1", Timeout: 60, CreateTime: t0, Attributes: []byte("{}")}, t0)
	b.Beat(&Heartbeat{Origin: "gw/2", Timeout: 600, CreateTime: t0, Tags: []string{"x"}}, t0.Add(3*time.Second)) // slow
	now := t0.Add(2 * time.Minute)                                                                               // gw/1 expired

	type answer struct {
		Heartbeats []map[string]any `json:"heartbeats"`
		Total      int              `json:"total"`
		Pages      int              `json:"pages"`
		Message    string           `json:"message"`
	}
	for _, tc := range []struct {
		query   string
		origins []string
		code    int
	}{
		{"", []string{"gw/2", "gw/1"}, 0},
		{"status=expired", []string{"gw/1"}, 0},
		{"status=slow&status=ok", []string{"gw/2"}, 0},
		{"origin=gw/1", []string{"gw/1"}, 0},
		{"tag=x", []string{"gw/2"}, 0},
		{"status=ok", nil, 0},
		{"bogus=1", nil, 400},
		{"page=2", nil, 416},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			body, err := b.QueryHeartbeats(q, "http://gw", now)
			if tc.code != 0 {
				require.NotNil(t, err)
				require.Equal(t, tc.code, err.Code)
				return
			}
			require.Nil(t, err)
			var a answer
			require.NoError(t, json.Unmarshal(body, &a))
			var got []string
			for _, h := range a.Heartbeats {
				got = append(got, h["origin"].(string))
			}
			require.Equal(t, tc.origins, got)
			if len(got) == 0 {
				require.Equal(t, "not found", a.Message)
			}
		})
	}
	hb, ok := b.Heartbeat("hb-")
	require.True(t, ok)
	require.Equal(t, "gw/2", hb.Origin, "of several prefix matches the newest")
	_, ok = b.DeleteHeartbeat(hb.ID)
	require.True(t, ok)
	require.Len(t, b.Heartbeats(), 1)
	_, ok = b.Heartbeat("")
	require.False(t, ok)
}

// TestDecodedForward files the §2.1 body a forwarder sends and keeps it as the
// alert's Body, byte for byte.
func TestDecodedForward(t *testing.T) {
	body := []byte(`{"id": "2f445c96-32f9-43b1-b090-27a77f47b1b1", "resource": "web01", "event": "HttpError", ` +
		`"environment": "Production", "severity": "major", "correlate": ["HttpError", "HttpOK"], ` +
		`"service": ["Web"], "group": "Web", "value": "500", "text": "Site down", "tags": ["dc1"], ` +
		`"attributes": {"ip": "127.0.0.1", "region": "EU"}, "origin": "probe/1", "type": "exceptionAlert", ` +
		`"createTime": "2026-11-21T23:40:08.087Z", "timeout": 3600, "rawData": null, "customer": null}`)
	a, derr := DecodeAlert(body, Defaults{Now: t0})
	require.Nil(t, derr)
	b := NewBook(10)
	st, kind := mustReceive(t, b, a, t0.Add(time.Second))
	require.Equal(t, KindNew, kind)
	require.Equal(t, string(body), string(st.Body))
	require.Equal(t, "2f445c96-32f9-43b1-b090-27a77f47b1b1", st.ID)
	require.Equal(t, 3600, st.Timeout)
	require.Equal(t, "Web", st.Group)

	// A later duplicate with the sender's lastReceiveId: Body is the new instance's.
	body2 := strings.Replace(string(body), "2f445c96-32f9-43b1-b090-27a77f47b1b1", "0b0b0b0b-32f9-43b1-b090-27a77f47b1b1", 1)
	a2, derr := DecodeAlert([]byte(body2), Defaults{Now: t0})
	require.Nil(t, derr)
	st, kind = mustReceive(t, b, a2, t0.Add(2*time.Second))
	require.Equal(t, KindDuplicate, kind)
	require.Equal(t, body2, string(st.Body))
	py, err := PyJSON(st.Output("http://gw"))
	require.NoError(t, err)
	require.Contains(t, string(py), `"lastReceiveId": "0b0b0b0b-32f9-43b1-b090-27a77f47b1b1"`)
}

func TestEvictionTimedOut(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout int
		want    string
	}{
		{"timed out open alert goes before a newer closed one", 10, "o1"},
		{"not timed out: the closed one goes", 3600, "c1"},
		{"no timeout never times out", 0, "c1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBook(2)
			o := testAlert("o1", "r1", "E", "major")
			o.Timeout = tc.timeout
			mustReceive(t, b, o, t0)
			mustReceive(t, b, testAlert("c1", "r2", "E", "ok"), t0.Add(time.Minute))
			_, _, ev, err := b.Receive(testAlert("n1", "r3", "E", "major"), t0.Add(2*time.Minute))
			require.Nil(t, err)
			require.Equal(t, []string{tc.want}, ev)
		})
	}
}

// queryIDs runs query on b and returns the ids of the answer's alerts.
func queryIDs(t *testing.T, b *Book, query string, now time.Time) []string {
	t.Helper()
	q, err := url.ParseQuery(query)
	require.NoError(t, err)
	body, qerr := b.Query(q, "http://gw/alerta", now)
	require.Nil(t, qerr)
	var a struct {
		Alerts []map[string]any `json:"alerts"`
	}
	require.NoError(t, json.Unmarshal(body, &a))
	var out []string
	for _, al := range a.Alerts {
		out = append(out, al["id"].(string))
	}
	return out
}

// TestQuerySortByAttributes: sort-by=attributes.<k> orders by the attribute's raw
// JSON value, alerts without it last, then by the next term; a repeated term is
// dropped, and more than MaxSortKeys distinct terms are refused.
func TestQuerySortByAttributes(t *testing.T) {
	b := NewBook(10)
	for i, tc := range []struct{ id, attrs string }{
		{"s1", `{"region": "EU", "rack": 2}`},
		{"s2", `{"region": "AP", "rack": 1}`},
		{"s3", `{"rack": 3}`},
		{"s4", `{"region": "EU", "rack": 1}`},
	} {
		a := testAlert(tc.id, "r"+tc.id, "E", "major")
		a.Attributes = []byte(tc.attrs)
		mustReceive(t, b, a, t0.Add(time.Duration(i)*time.Second))
	}
	now := t0.Add(time.Minute)
	require.Equal(t, []string{"s2", "s4", "s1", "s3"}, queryIDs(t, b, "sort-by=attributes.region&sort-by=attributes.rack", now))
	require.Equal(t, []string{"s3", "s1", "s4", "s2"}, queryIDs(t, b, "sort-by=-attributes.region&sort-by=-attributes.rack", now))
	// The repeated region term cannot break the ties the first one left.
	require.Equal(t, []string{"s2", "s4", "s1", "s3"}, queryIDs(t, b, "sort-by=attributes.region&sort-by=-attributes.region&sort-by=attributes.rack", now))
	require.Equal(t, []string{"s2", "s4", "s1", "s3"}, queryIDs(t, b, "sort-by=attributes.rack&sort-by=resource", now))

	q := url.Values{}
	for i := 0; i <= MaxSortKeys; i++ {
		q.Add("sort-by", fmt.Sprintf("attributes.k%d", i))
	}
	_, qerr := b.Query(q, "http://gw/alerta", now)
	require.NotNil(t, qerr)
	require.Equal(t, 400, qerr.Code)
	q.Del("sort-by")
	for i := 0; i < 1000; i++ {
		q.Add("sort-by", "attributes.k")
	}
	_, qerr = b.Query(q, "http://gw/alerta", now)
	require.Nil(t, qerr, "a repeated term is dropped, not counted")
}

// TestQuerySortByAttributesParsesOnce: the attributes of each alert are parsed once
// per query, not in every comparison of the sort (which, under the receiver's
// book lock, let one GET stall every request). Counted in allocations, which grow
// with the parses: O(n) of them, not O(n log n).
func TestQuerySortByAttributesParsesOnce(t *testing.T) {
	const n = 2000
	b := NewBook(n)
	for i := range n {
		a := testAlert(fmt.Sprintf("p%05d", i), fmt.Sprintf("r%05d", i), "E", "major")
		a.Attributes = fmt.Appendf(nil, `{"a": 1, "b": [1, 2, 3], "c": {"d": "e"}, "k": %d}`, (i*7919)%n)
		mustReceive(t, b, a, t0.Add(time.Duration(i)*time.Millisecond))
	}
	q := url.Values{"sort-by": {"attributes.k"}, "page-size": {"1"}}
	now := t0.Add(time.Hour)
	base := testing.AllocsPerRun(1, func() {
		_, _ = b.Query(url.Values{"page-size": {"1"}}, "http://gw/alerta", now)
	})
	allocs := testing.AllocsPerRun(1, func() {
		_, qerr := b.Query(q, "http://gw/alerta", now)
		require.Nil(t, qerr)
	})
	// One parse of these attributes is about 40 allocations; the sort makes some
	// 2·n·log₂(n) ≈ 44000 comparisons.
	require.Less(t, allocs-base, float64(100*n), "allocations of the attribute sort: %v", allocs-base)
}
