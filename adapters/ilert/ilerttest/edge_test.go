package ilerttest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type pollAnswer struct {
	Items []struct {
		ID      int64           `json:"id"`
		Payload json.RawMessage `json:"payload"`
	} `json:"items"`
	Role *string `json:"role"`
}

func poll(t *testing.T, s *Server, key string, q url.Values) (int, pollAnswer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+EdgePath+"?"+q.Encode(), nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var a pollAnswer
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(b, &a), string(b))
	}
	return resp.StatusCode, a
}

func ids(a pollAnswer) []int64 {
	out := []int64{}
	for _, it := range a.Items {
		out = append(out, it.ID)
	}
	return out
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestEdgeAuth(t *testing.T) {
	s := NewServer(t)
	s.AddEdgeItems("iec1:test-key", 2, nil)
	st, _ := poll(t, s, "", vals("limit", "100", "after-id", "0"))
	require.Equal(t, http.StatusUnauthorized, st)
	st, _ = poll(t, s, "Bearer iec1:test-key", vals("after-id", "0"))
	require.Equal(t, http.StatusUnauthorized, st, "the raw key, not a bearer token")
	st, _ = poll(t, s, "iec1:other", vals("after-id", "0"))
	require.Equal(t, http.StatusUnauthorized, st)
	st, a := poll(t, s, "iec1:test-key", vals("limit", "100", "after-id", "0"))
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, []int64{1, 2}, ids(a))
	require.Nil(t, a.Role, "no role outside HA")
	require.JSONEq(t, string(DefaultEdgePayload(1)), string(a.Items[0].Payload))

	polls := s.EdgePolls()
	require.Len(t, polls, 4)
	require.Equal(t, http.StatusUnauthorized, polls[0].Status)
	require.Equal(t, []int64{1, 2}, polls[3].IDs)
	require.Equal(t, int64(0), polls[3].AfterID)
}

func TestEdgePaging(t *testing.T) {
	s := NewServer(t)
	const key = "k"
	first, last := s.AddEdgeItems(key, 250, func(id int64) json.RawMessage {
		return json.RawMessage(`{"n": ` + strconv.FormatInt(id, 10) + ` }`)
	})
	require.Equal(t, int64(1), first)
	require.Equal(t, int64(250), last)
	_, a := poll(t, s, key, vals("after-id", "0"))
	require.Len(t, a.Items, DefaultEdgeLimit)
	_, a = poll(t, s, key, vals("after-id", "100", "limit", "100"))
	require.Equal(t, int64(101), a.Items[0].ID)
	require.Equal(t, `{"n":101}`, string(a.Items[0].Payload), "payload stored as given by payloadFunc")
	_, a = poll(t, s, key, vals("after-id", "200", "limit", "100"))
	require.Len(t, a.Items, 50)
	_, a = poll(t, s, key, vals("after-id", "250"))
	require.Empty(t, a.Items)
	require.NotNil(t, a.Items, "an empty list, not null")

	// explicit ids, compacted payloads
	require.Equal(t, []int64{300, 301}, s.AddEdge(key, EdgeItem{ID: 300, Payload: json.RawMessage(`{ "a" : 1 }`)}, EdgeItem{}))
	_, a = poll(t, s, key, vals("after-id", "250", "limit", "5"))
	require.Equal(t, []int64{300, 301}, ids(a))
	require.Equal(t, `{"a":1}`, string(a.Items[0].Payload))
	require.Panics(t, func() { s.AddEdge(key, EdgeItem{ID: 5}) })

	for _, q := range []url.Values{vals("limit", "0"), vals("limit", "1001"), vals("after-id", "x"), vals("cluster-id", "c")} {
		st, _ := poll(t, s, key, q)
		require.Equal(t, http.StatusBadRequest, st, q.Encode())
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL()+EdgePath, nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestEdgeRetention(t *testing.T) {
	s := NewServer(t)
	var mu sync.Mutex
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s.AddEdgeItems("k", 3, nil)
	advance(3 * 24 * time.Hour)
	s.AddEdgeItems("k", 2, nil)
	advance(4*24*time.Hour + time.Second) // the first three are 7 days and 1 s old
	_, a := poll(t, s, "k", vals("after-id", "0"))
	require.Equal(t, []int64{4, 5}, ids(a))
	require.Len(t, s.EdgeItems("k"), 2)
	advance(3 * 24 * time.Hour)
	_, a = poll(t, s, "k", vals("after-id", "0"))
	require.Empty(t, a.Items)
	s.SetEdgeRetention(time.Hour)
	s.AddEdgeItems("k", 1, nil)
	advance(2 * time.Hour)
	require.Empty(t, s.EdgeItems("k"))
}

func TestEdgeHA(t *testing.T) {
	s := NewServer(t)
	var mu sync.Mutex
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s.SetEdgeLease(30 * time.Second)
	s.AddEdgeItems("k", 5, nil)
	ha := func(inst string, lpi int64) url.Values {
		v := vals("limit", "2", "cluster-id", "c1", "instance-id", inst)
		if lpi > 0 {
			v.Set("last-processed-id", strconv.FormatInt(lpi, 10))
		}
		return v
	}
	_, a := poll(t, s, "k", ha("node-1", 0))
	require.Equal(t, RoleLeader, *a.Role)
	require.Equal(t, []int64{1, 2}, ids(a))
	_, a = poll(t, s, "k", ha("node-2", 0))
	require.Equal(t, RoleStandby, *a.Role)
	require.Empty(t, a.Items)
	// the leader reports progress: the server-side cursor moves
	advance(10 * time.Second)
	_, a = poll(t, s, "k", ha("node-1", 2))
	require.Equal(t, []int64{3, 4}, ids(a))
	require.Equal(t, int64(2), s.EdgeCluster("k", "c1").Cursor)
	// a lower last-processed-id does not move the cursor back
	_, a = poll(t, s, "k", ha("node-1", 1))
	require.Equal(t, []int64{3, 4}, ids(a))
	// within the lease the standby stays standby
	advance(30 * time.Second)
	_, a = poll(t, s, "k", ha("node-2", 0))
	require.Equal(t, RoleStandby, *a.Role)
	// the leader goes quiet past the lease: the next standby to poll is promoted
	advance(time.Second)
	_, a = poll(t, s, "k", ha("node-2", 0))
	require.Equal(t, RoleLeader, *a.Role)
	require.Equal(t, []int64{3, 4}, ids(a), "a promoted leader starts at the server-side cursor")
	_, a = poll(t, s, "k", ha("node-1", 4))
	require.Equal(t, RoleStandby, *a.Role, "the old leader comes back as a standby")
	require.Equal(t, int64(2), s.EdgeCluster("k", "c1").Cursor, "a standby's last-processed-id is ignored")
	c := s.EdgeCluster("k", "c1")
	require.Equal(t, "node-2", c.Leader)
	require.Equal(t, []string{"node-1", "node-2"}, c.Promotions)
	// another cluster of the same key elects on its own
	_, a = poll(t, s, "k", vals("cluster-id", "c2", "instance-id", "node-1"))
	require.Equal(t, RoleLeader, *a.Role)
	require.Len(t, a.Items, 5)
}

func TestEdgeFaults(t *testing.T) {
	s := NewServer(t)
	s.AddEdgeItems("k", 1, nil)
	s.FailNext(EdgePath, 1, http.StatusServiceUnavailable)
	s.DropNext(EdgePath, 1)
	st, _ := poll(t, s, "k", vals("after-id", "0"))
	require.Equal(t, http.StatusServiceUnavailable, st)
	req, _ := http.NewRequest(http.MethodGet, s.URL()+EdgePath, nil)
	req.Header.Set("Authorization", "k")
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // no retry on a reused connection
	_, err := fresh.Do(req)
	require.Error(t, err, "dropped connection")
	st, a := poll(t, s, "k", vals("after-id", "0"))
	require.Equal(t, http.StatusOK, st)
	require.Len(t, a.Items, 1)
	reqs := s.Requests()
	require.Len(t, reqs, 3)
	require.Equal(t, "k", reqs[2].Header.Get("Authorization"))
	require.Len(t, s.EdgePolls(), 1, "faults are not answered polls")
	s.Reset()
	require.Empty(t, s.EdgePolls())
	require.Len(t, s.EdgeItems("k"), 1, "queues survive Reset")
}
