package ilerttest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// EdgePath is the edge connector's poll endpoint.
const EdgePath = "/api/edge-connections/events"

// Defaults of the edge endpoint.
const (
	// DefaultEdgeLease is how long a leader may stay silent before the next standby
	// that polls takes its place: three default poll intervals.
	DefaultEdgeLease = 30 * time.Second
	// EdgeRetention is how long the server keeps an item: 7 days.
	EdgeRetention = 7 * 24 * time.Hour
	// DefaultEdgeLimit is the page size when a poll gives no limit.
	DefaultEdgeLimit = 100
	// MaxEdgeLimit is the largest limit a poll may ask for.
	MaxEdgeLimit = 1000
)

// The roles the edge endpoint answers in HA mode.
const (
	RoleLeader  = "leader"
	RoleStandby = "standby"
)

// EdgeItem is one queued edge item.
type EdgeItem struct {
	// ID is the item id, increasing per key. Zero in AddEdge means "the next id".
	ID int64
	// Payload is the item's payload, any JSON value.
	Payload json.RawMessage
	// Added is when the item was queued, by the fake's clock.
	Added time.Time
}

// EdgePoll is one poll the edge endpoint answered (not counting faults).
type EdgePoll struct {
	// Key is the Authorization header, "" when absent.
	Key string
	// AfterID is the after-id parameter (-1 when absent).
	AfterID int64
	// Limit is the limit in effect.
	Limit int
	// ClusterID and InstanceID are the HA parameters, "" when absent.
	ClusterID, InstanceID string
	// LastProcessedID is the last-processed-id parameter (-1 when absent).
	LastProcessedID int64
	// Role is the role answered: "leader", "standby" or "" (non-HA).
	Role string
	// IDs are the ids of the items answered.
	IDs []int64
	// Status is the status answered.
	Status int
	// At is when the poll was answered, by the fake's clock.
	At time.Time
}

// EdgeCluster is the server-side state of one HA cluster of one key.
type EdgeCluster struct {
	// Leader is the leading instance id, "" before the first poll.
	Leader string
	// Cursor is the last-processed-id the leader reported last (the server-side
	// cursor); the leader gets the items after it.
	Cursor int64
	// Promotions lists every instance that became leader, in order.
	Promotions []string
}

// edgeQueue is one key's items and clusters.
type edgeQueue struct {
	items    []EdgeItem // sorted by ID
	nextID   int64
	clusters map[string]*edgeCluster
}

type edgeCluster struct {
	EdgeCluster
	seen time.Time // the leader's last poll
}

// edgeState is the part of Server the edge endpoint uses; guarded by Server.mu.
type edgeState struct {
	queues    map[string]*edgeQueue
	lease     time.Duration
	retention time.Duration
	now       func() time.Time
	polls     []EdgePoll
}

func (s *Server) edge() *edgeState {
	if s.edgeSt == nil {
		s.edgeSt = &edgeState{queues: map[string]*edgeQueue{}, lease: DefaultEdgeLease, retention: EdgeRetention, now: time.Now}
	}
	return s.edgeSt
}

func (e *edgeState) queue(key string) *edgeQueue {
	q := e.queues[key]
	if q == nil {
		q = &edgeQueue{nextID: 1, clusters: map[string]*edgeCluster{}}
		e.queues[key] = q
	}
	return q
}

// AddEdgeKey makes key a valid edge connector key with an empty queue. Polls with any
// other Authorization header are answered 401.
func (s *Server) AddEdgeKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.edge().queue(key)
}

// AddEdge queues items for key (making it valid), in order. An item whose ID is zero
// gets the next id; a given ID must be larger than every id queued before (else
// AddEdge panics: a test bug). Payloads are compacted; a nil payload becomes a
// default alert payload for the id. It returns the ids.
func (s *Server) AddEdge(key string, items ...EdgeItem) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.edge()
	q := e.queue(key)
	now := e.now()
	ids := make([]int64, 0, len(items))
	for _, it := range items {
		if it.ID == 0 {
			it.ID = q.nextID
		}
		if it.ID < q.nextID {
			panic("ilerttest: edge item id " + strconv.FormatInt(it.ID, 10) + " is not above the ids queued before")
		}
		if it.Payload == nil {
			it.Payload = DefaultEdgePayload(it.ID)
		} else {
			var buf bytes.Buffer
			if err := json.Compact(&buf, it.Payload); err == nil {
				it.Payload = buf.Bytes()
			}
		}
		it.Added = now
		q.items = append(q.items, it)
		q.nextID = it.ID + 1
		ids = append(ids, it.ID)
	}
	return ids
}

// AddEdgeItems queues n items for key with the next ids, the payload of each made by
// payload (nil: DefaultEdgePayload). It returns the first and last id (0, 0 for n ≤ 0).
func (s *Server) AddEdgeItems(key string, n int, payload func(id int64) json.RawMessage) (first, last int64) {
	if n <= 0 {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.edge()
	q := e.queue(key)
	now := e.now()
	first = q.nextID
	for range n {
		id := q.nextID
		var p json.RawMessage
		if payload != nil {
			p = payload(id)
		} else {
			p = DefaultEdgePayload(id)
		}
		q.items = append(q.items, EdgeItem{ID: id, Payload: p, Added: now})
		q.nextID++
	}
	return first, q.nextID - 1
}

// DefaultEdgePayload is the payload of ilagent's edge tests for item id: an
// alert-created custom-webhook payload whose alert id is the item id as a string.
func DefaultEdgePayload(id int64) json.RawMessage {
	s := strconv.FormatInt(id, 10)
	return json.RawMessage(`{"id":"` + s + `","summary":"alert ` + s + `","eventType":"alert-created","status":"PENDING","timestamp":"2026-05-04T10:00:00.000Z"}`)
}

// SetEdgeLease sets how long an HA leader may go without polling before the next
// standby to poll is promoted (default DefaultEdgeLease).
func (s *Server) SetEdgeLease(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.edge().lease = d
}

// SetEdgeRetention sets how long items are kept (default EdgeRetention, 7 days).
func (s *Server) SetEdgeRetention(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.edge().retention = d
}

// SetClock sets the clock of the edge endpoint (retention, the leader lease and the
// time items are added); nil restores time.Now.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	s.edge().now = now
}

// EdgePolls returns every answered edge poll, in order (kept unless SetRecord(false)).
func (s *Server) EdgePolls() []EdgePoll {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]EdgePoll(nil), s.edge().polls...)
}

// EdgeCluster returns the state of cluster cid of key (zero when unknown).
func (s *Server) EdgeCluster(key, cid string) EdgeCluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.edge().queues[key]
	if q == nil || q.clusters[cid] == nil {
		return EdgeCluster{}
	}
	c := q.clusters[cid].EdgeCluster
	c.Promotions = append([]string(nil), c.Promotions...)
	return c
}

// EdgeItems returns the items still kept for key (retention applied), in id order.
func (s *Server) EdgeItems(key string) []EdgeItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.edge()
	q := e.queues[key]
	if q == nil {
		return nil
	}
	e.expire(q)
	return append([]EdgeItem(nil), q.items...)
}

// expire drops the items older than the retention.
func (e *edgeState) expire(q *edgeQueue) {
	cut := e.now().Add(-e.retention)
	n := 0
	for _, it := range q.items {
		if it.Added.Before(cut) {
			n++
			continue
		}
		break
	}
	if n == 0 {
		// a test may set the clock back, so a later item can be older than the
		// head: after skips such items when it answers
		return
	}
	q.items = append(q.items[:0:0], q.items[n:]...)
}

// after returns up to limit items of q with ids above id.
func (e *edgeState) after(q *edgeQueue, id int64, limit int) []EdgeItem {
	i := sort.Search(len(q.items), func(i int) bool { return q.items[i].ID > id })
	cut := e.now().Add(-e.retention)
	out := make([]EdgeItem, 0, min(limit, len(q.items)-i))
	for ; i < len(q.items) && len(out) < limit; i++ {
		if !q.items[i].Added.Before(cut) {
			out = append(out, q.items[i])
		}
	}
	return out
}

// edgeAnswer is the JSON of a poll answer.
type edgeAnswer struct {
	Items []edgeWireItem `json:"items"`
	Role  string         `json:"role,omitempty"`
}

type edgeWireItem struct {
	ID      int64           `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// intParam parses an optional integer query parameter: def when absent, ok=false
// when present and not an integer.
func intParam(q url.Values, name string, def int64) (int64, bool) {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return def, true
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	return n, err == nil
}

// edgePoll answers GET /api/edge-connections/events.
func (s *Server) edgePoll(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Authorization")
	q := r.URL.Query()
	poll := EdgePoll{Key: key, ClusterID: q.Get("cluster-id"), InstanceID: q.Get("instance-id")}
	answer := func(status int, v any) {
		poll.Status = status
		s.mu.Lock()
		poll.At = s.edge().now()
		if !s.noRecord {
			s.edge().polls = append(s.edge().polls, poll)
		}
		s.mu.Unlock()
		if status >= 400 {
			writeError(w, status, v.(string))
			return
		}
		writeJSON(w, status, v)
	}
	after, ok1 := intParam(q, "after-id", -1)
	lpi, ok2 := intParam(q, "last-processed-id", -1)
	limit, ok3 := intParam(q, "limit", DefaultEdgeLimit)
	poll.AfterID, poll.LastProcessedID, poll.Limit = after, lpi, int(limit)
	switch {
	case !ok1 || !ok2 || !ok3:
		answer(http.StatusBadRequest, "after-id, last-processed-id and limit must be integers")
		return
	case limit < 1 || limit > MaxEdgeLimit:
		answer(http.StatusBadRequest, "limit must be between 1 and "+strconv.Itoa(MaxEdgeLimit))
		return
	case (poll.ClusterID == "") != (poll.InstanceID == ""):
		answer(http.StatusBadRequest, "cluster-id and instance-id go together")
		return
	}
	s.mu.Lock()
	e := s.edge()
	eq := e.queues[key]
	if key == "" || eq == nil {
		s.mu.Unlock()
		answer(http.StatusUnauthorized, "invalid edge connector key")
		return
	}
	e.expire(eq)
	var out edgeAnswer
	if poll.ClusterID == "" {
		out.Items = wire(e.after(eq, max(after, 0), int(limit)))
	} else {
		c := eq.clusters[poll.ClusterID]
		if c == nil {
			c = &edgeCluster{}
			eq.clusters[poll.ClusterID] = c
		}
		now := e.now()
		if c.Leader == "" || (c.Leader != poll.InstanceID && now.Sub(c.seen) > e.lease) {
			c.Leader = poll.InstanceID
			c.Promotions = append(c.Promotions, poll.InstanceID)
		}
		if c.Leader == poll.InstanceID {
			c.seen = now
			if lpi > c.Cursor {
				c.Cursor = lpi
			}
			out.Role = RoleLeader
			out.Items = wire(e.after(eq, c.Cursor, int(limit)))
		} else {
			out.Role = RoleStandby
			out.Items = []edgeWireItem{}
		}
	}
	poll.Role = out.Role
	poll.IDs = make([]int64, len(out.Items))
	for i, it := range out.Items {
		poll.IDs[i] = it.ID
	}
	s.mu.Unlock()
	answer(http.StatusOK, out)
}

func wire(items []EdgeItem) []edgeWireItem {
	out := make([]edgeWireItem, len(items))
	for i, it := range items {
		out[i] = edgeWireItem{ID: it.ID, Payload: it.Payload}
	}
	return out
}
