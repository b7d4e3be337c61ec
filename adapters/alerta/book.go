package alerta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
)

// Statuses of the ALERTA alarm model (§5.2).
const (
	statusOpen     = "open"
	statusAssign   = "assign"
	statusAck      = "ack"
	statusShelved  = "shelved"
	statusBlackout = "blackout"
	statusClosed   = "closed"
	statusExpired  = "expired"
	statusUnknown  = "unknown"
)

// The built-in actions (§5.2); any other name is a custom action.
const (
	actionOpen     = "open"
	actionAssign   = "assign"
	actionAck      = "ack"
	actionUnack    = "unack"
	actionShelve   = "shelve"
	actionUnshelve = "unshelve"
	actionClose    = "close"
	actionExpired  = "expired"
	actionTimeout  = "timeout"
)

// Receive outcomes.
const (
	KindNew        = "new"
	KindDuplicate  = "duplicate"
	KindCorrelated = "correlated"
)

const (
	severityNormal          = "normal"        // DEFAULT_NORMAL_SEVERITY
	severityPrevious        = "indeterminate" // DEFAULT_PREVIOUS_SEVERITY
	normalLevel             = 7               // the code of normal, ok and cleared
	trendMoreSevere         = "moreSevere"
	trendLessSevere         = "lessSevere"
	trendNoChange           = "noChange"
	defaultMaxAlerts        = adapters.MaxTableEntries
	defaultMaxHeartbeats    = 1000
	defaultMaxStored        = adapters.MaxTableValue
	heartbeatMaxLatencyMsec = 2000 // HEARTBEAT_MAX_LATENCY
)

// Stored is one alert as a node keeps it: what Alerta 9.1 keeps in its alerts table,
// less the history, plus what the node needs to re-send it. A Stored returned by
// the Book is never modified afterwards (every change replaces it with a new one),
// so a caller may keep and read it after releasing its lock; callers must not
// modify it either.
type Stored struct {
	ID            string
	LastReceiveID string
	Environment   string
	Resource      string
	Event         string
	Severity      string
	Customer      *string
	Correlate     []string
	Status        string
	// PreviousStatus is the status before the alert's latest change as Alerta's
	// history shows it (the second history entry's status, "" when there is only
	// one): the previous status of a timeout and of an incoming alert's transition.
	// Alerta adds a history entry on status and value changes, correlations and
	// every action, so it can equal Status.
	PreviousStatus string
	// BeforeAck and BeforeShelve are the statuses the alert had when it was last
	// acknowledged and shelved ("" when never): where unack and unshelve return,
	// which Alerta finds by searching its history for that entry.
	BeforeAck        string
	BeforeShelve     string
	PreviousSeverity string
	TrendIndication  string
	DuplicateCount   int
	Repeat           bool
	CreateTime       time.Time
	ReceiveTime      time.Time
	LastReceiveTime  time.Time
	UpdateTime       time.Time
	Timeout          int
	// DedupKey is alerta.DedupKey of the alert when it was created, kept through
	// correlations (AttrDedup).
	DedupKey string
	Service  []string
	Group    string
	Value    *string
	Text     string
	Tags     []string
	// Attributes is a JSON object's raw bytes, key order kept; never empty.
	Attributes []byte
	Origin     string
	Type       string
	RawData    *string
	// Body is the §2.1 body of the alert's last instance (Alert.Encode): what the
	// node forwards, and re-sends to a destination that answers an action with 404.
	// It is nil when it was dropped to fit a table value limit.
	Body []byte
}

// Book is the in-memory index of the alerts a node (or the Alerta fake) holds,
// answering as Alerta 9.1 with its Postgres backend: de-duplication and correlation
// (§6), the ALERTA alarm model (§5.2), id prefix lookup, GET /alerts. It holds at
// most max alerts and a separate, smaller set of heartbeats, and with SetMaxBytes
// at most so many bytes of both. A Book is not safe for concurrent use; callers
// lock.
type Book struct {
	// MaxStored is the largest encoding (MarshalBinary without the Body) a stored
	// alert may grow to through merged tags and attributes: a Receive that would
	// make one larger fails with 413 and changes nothing. NewBook sets 64 KiB (the
	// largest table value); zero means no limit.
	MaxStored int
	// NewID makes heartbeat ids; nil means a random UUID.
	NewID func() string

	max       int
	nodes     map[string]*node
	byKey     map[dedupIndexKey]*node
	byCorr    map[corrIndexKey][]*node
	prefix    prefixIndex
	closedAge ageHeap
	openAge   ageHeap

	maxBeats int
	beats    map[beatKey]*beatNode
	beatAge  beatHeap

	// maxBytes is SetMaxBytes' bound, 0 for none; alertBytes and beatBytes are
	// what the alerts and the heartbeats take of it now.
	maxBytes   int
	alertBytes int
	beatBytes  int
}

// NewBook returns an empty book holding at most max alerts; max ≤ 0 means
// adapters.MaxTableEntries.
func NewBook(max int) *Book {
	if max <= 0 {
		max = defaultMaxAlerts
	}
	return &Book{
		MaxStored: defaultMaxStored,
		max:       max,
		prefix:    prefixIndex{seed: randomSeed()},
		nodes:     make(map[string]*node),
		byKey:     make(map[dedupIndexKey]*node),
		byCorr:    make(map[corrIndexKey][]*node),
		maxBeats:  defaultMaxHeartbeats,
		beats:     make(map[beatKey]*beatNode),
	}
}

// beatShare is the part of the byte budget heartbeats may take (1/beatShare); the
// alerts take the rest. A fixed split keeps each kind's eviction to its own kind:
// a burst of heartbeats never evicts an alert, nor alerts a heartbeat.
const beatShare = 8

// SetMaxBytes bounds the memory the book's contents take, counted in bytes: each
// alert's Size (its last body included) and each heartbeat's Size. Alerts may take
// n less n/8, heartbeats n/8. A Receive, Act or Load that would pass the alerts'
// part evicts as the count limit does (the oldest closed, expired or timed-out
// alert first, else the oldest of any status), a Beat the least recently received
// heartbeats; an alert or a heartbeat larger than its whole part is refused with
// 413. n ≤ 0 means no bound, as NewBook leaves it. What the book holds beyond a new
// bound is evicted at once; evicted lists the alerts' ids.
func (b *Book) SetMaxBytes(n int) (evicted []string) {
	b.maxBytes = max(n, 0)
	for b.overBytes(0) {
		old := b.oldest("", time.Time{})
		if old == nil {
			break
		}
		b.unindex(old.ID)
		evicted = append(evicted, old.ID)
	}
	b.fitBeats(0)
	return evicted
}

// Bytes is what the book holds now as SetMaxBytes counts it, alerts and
// heartbeats together.
func (b *Book) Bytes() int { return b.alertBytes + b.beatBytes }

// alertBudget is the alerts' part of the byte budget; 0 when there is none.
func (b *Book) alertBudget() int { return b.maxBytes - b.maxBytes/beatShare }

// beatBudget is the heartbeats' part of the byte budget; 0 when there is none.
func (b *Book) beatBudget() int { return b.maxBytes / beatShare }

// overBytes reports whether alerts taking need more bytes would pass the alerts'
// part of the budget.
func (b *Book) overBytes(need int) bool {
	return b.maxBytes > 0 && b.alertBytes+need > b.alertBudget()
}

// tooLarge is the 413 of an alert of size bytes that cannot fit even in an empty
// book; nil when it can (or there is no byte budget).
func (b *Book) tooLarge(size int) *Error {
	if b.maxBytes > 0 && size > b.alertBudget() {
		return &Error{Code: 413, Message: fmt.Sprintf("alert would take %d bytes stored (its last body included), more than the %d bytes kept for all alerts", size, b.alertBudget())}
	}
	return nil
}

// Len is the number of alerts in the book.
func (b *Book) Len() int { return len(b.nodes) }

// All returns every alert, ordered by id.
func (b *Book) All() []*Stored {
	out := make([]*Stored, 0, len(b.nodes))
	for _, n := range b.nodes {
		out = append(out, n.st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get returns the alert whose id is exactly id.
func (b *Book) Get(id string) (*Stored, bool) {
	n := b.nodes[id]
	if n == nil {
		return nil, false
	}
	return n.st, true
}

// Load puts st in the book as it is, replacing an alert with its id or its
// de-duplication key: the receiver restores its table at start, and undoes a
// change by loading the Stored it replaced. Beyond the book's size (in alerts or
// in bytes) it evicts as Receive does and returns the evicted ids; an alert larger
// than the whole byte budget is not kept, and its id is among the evicted.
func (b *Book) Load(st *Stored) (evicted []string) {
	if st == nil || st.ID == "" {
		return nil
	}
	if len(st.Attributes) == 0 {
		cp := *st
		cp.Attributes = []byte("{}")
		st = &cp
	}
	b.unindex(st.ID)
	if n := b.byKey[dedupIndexKey{st.Environment, st.Resource, st.Event, customerKey(st.Customer)}]; n != nil {
		b.unindex(n.st.ID)
		evicted = append(evicted, n.st.ID)
	}
	size := st.Size()
	if b.tooLarge(size) != nil {
		return append(evicted, st.ID)
	}
	evicted = append(evicted, b.makeRoom(st.ID, time.Time{}, size)...)
	b.index(st, size)
	return evicted
}

// makeRoom evicts alerts, never keep, until one more of size bytes fits.
func (b *Book) makeRoom(keep string, now time.Time, size int) []string {
	var evicted []string
	for len(b.nodes) >= b.max || b.overBytes(size) {
		old := b.oldest(keep, now)
		if old == nil {
			break
		}
		b.unindex(old.ID)
		evicted = append(evicted, old.ID)
	}
	return evicted
}

// Delete removes the alert that id resolves to (as Resolve) and returns it.
func (b *Book) Delete(id string) (*Stored, bool) {
	st, ok := b.Resolve(id)
	if !ok {
		return nil, false
	}
	b.unindex(st.ID)
	return st, true
}

// Resolve finds the alert an {id} of the API names, as Alerta's Postgres backend
// does: a case-insensitive prefix of its id or of its lastReceiveId, so an 8-char
// short id works and so does a forwarded action naming the sender's id. Of several
// matches, an exact id wins, else the most recently received (Postgres takes an
// arbitrary row). The prefix is literal, where Postgres reads it as a regular
// expression. It costs O(log n + matches).
func (b *Book) Resolve(idOrPrefix string) (*Stored, bool) {
	if idOrPrefix == "" {
		return nil, false
	}
	if n := b.nodes[idOrPrefix]; n != nil {
		return n.st, true
	}
	var best *Stored
	b.prefix.ascendPrefix(strings.ToLower(idOrPrefix), func(_, id string) bool {
		if st := b.nodes[id].st; best == nil || newer(st, best) {
			best = st
		}
		return true
	})
	return best, best != nil
}

// Match reports the stored alert a would fold into, and how, without changing the
// book: nil and KindNew when a would be created. The receiver keeps it to undo a
// Receive whose event the relay refused: Load it back, or Delete the new alert and
// Load the evicted ones again from its table (which still holds them).
func (b *Book) Match(a *Alert) (*Stored, string) {
	cust := customerKey(a.Customer)
	if n := b.byKey[dedupIndexKey{a.Environment, a.Resource, a.Event, cust}]; n != nil && sameCustomer(n.st.Customer, a.Customer) {
		if n.st.Severity == severityOr(a.Severity) {
			return n.st, KindDuplicate
		}
		return n.st, KindCorrelated
	}
	var best *Stored
	for _, n := range b.byCorr[corrIndexKey{a.Environment, a.Resource, cust, a.Event}] {
		if n.st.Event != a.Event && sameCustomer(n.st.Customer, a.Customer) && (best == nil || newer(n.st, best)) {
			best = n.st
		}
	}
	if best != nil {
		return best, KindCorrelated
	}
	return nil, KindNew
}

func sameCustomer(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func severityOr(s string) string {
	if s == "" {
		return severityNormal
	}
	return s
}

func statusOr(s string) string {
	if s == "" {
		return statusOpen
	}
	return s
}

// Receive files an incoming alert as Alerta's process_alert does (§6): a duplicate
// (same environment, resource, event, severity and customer) updates the stored
// alert in place; a correlated one (same environment and resource, and the same
// event with another severity or an event in the stored correlate list) takes the
// new event and severity; anything else is created with a.ID. The status follows
// the ALERTA alarm model. st.Body is a.Encode(). A new alert beyond the book's size,
// or any alert beyond its byte budget (SetMaxBytes), evicts the oldest by
// lastReceiveTime of the closed, expired or timed-out alerts, or failing that the
// oldest of any status; evicted lists their ids. Errors are Alerta's: 400 for a
// missing resource or event, 500 for an unknown severity and for a new alert
// reusing a stored id; and 413 beyond MaxStored or for an alert larger than the
// whole byte budget. On error the book is unchanged.
func (b *Book) Receive(a *Alert, now time.Time) (st *Stored, kind string, evicted []string, err *Error) {
	if a == nil {
		return nil, "", nil, &Error{Code: 400, Message: "no alert"}
	}
	if a.Resource == "" {
		return nil, "", nil, &Error{Code: 400, Message: `Missing mandatory value for "resource"`}
	}
	if a.Event == "" {
		return nil, "", nil, &Error{Code: 400, Message: `Missing mandatory value for "event"`}
	}
	if a.ID == "" {
		return nil, "", nil, &Error{Code: 500, Message: "alert has no id"}
	}
	if a.Customer != nil && *a.Customer == "" {
		return nil, "", nil, &Error{Code: 400, Message: "customer must not be an empty string"}
	}
	if a.Timeout < 0 {
		return nil, "", nil, &Error{Code: 400, Message: fmt.Sprintf("Invalid negative 'timeout' value (%d)", a.Timeout)}
	}
	sev := severityOr(a.Severity)
	if _, ok := SeverityCode(sev); !ok {
		return nil, "", nil, &Error{Code: 500, Message: fmt.Sprintf("Severity (%s) is not one of %s", clipString(sev, 64), strings.Join(Severities(), ", "))}
	}
	attrs := a.Attributes
	if len(bytes.TrimSpace(attrs)) == 0 {
		attrs = []byte("{}")
	} else if _, e := objectMembers(attrs); e != nil {
		return nil, "", nil, &Error{Code: 400, Message: "attributes must be a JSON object"}
	}
	cur, kind := b.Match(a)
	now = now.UTC()
	set := statusOr(a.Status)
	switch kind {
	case KindDuplicate:
		_, status, e := transition(cur.Status, cur.PreviousStatus, set, sev, "", "")
		if e != nil {
			return nil, "", nil, &Error{Code: 500, Message: e.Message}
		}
		n := *cur
		n.Status = status
		n.Service = cloneStrings(a.Service)
		n.Value = cloneStringPtr(a.Value)
		n.Text = a.Text
		n.Timeout = a.Timeout
		n.RawData = cloneStringPtr(a.RawData)
		n.Repeat = true
		n.LastReceiveID = a.ID
		n.LastReceiveTime = now
		n.Tags = unionStrings(cur.Tags, a.Tags)
		n.Attributes = mergeObjects(cur.Attributes, attrs)
		n.DuplicateCount = cur.DuplicateCount + 1
		// A history entry is added when the status changes, or the value does
		// (HISTORY_ON_VALUE_CHANGE); only a status change moves updateTime.
		if status != cur.Status {
			n.UpdateTime = now
			n.PreviousStatus = cur.Status
		} else if !equalStringPtr(a.Value, cur.Value) {
			n.PreviousStatus = cur.Status
		}
		st = &n
	case KindCorrelated:
		_, status, e := transition(cur.Status, cur.PreviousStatus, set, sev, cur.Severity, "")
		if e != nil {
			return nil, "", nil, &Error{Code: 500, Message: e.Message}
		}
		n := *cur
		n.Event = a.Event
		n.Severity = sev
		n.Status = status
		n.Service = cloneStrings(a.Service)
		n.Value = cloneStringPtr(a.Value)
		n.Text = a.Text
		n.CreateTime = a.CreateTime.UTC()
		n.Timeout = a.Timeout
		n.RawData = cloneStringPtr(a.RawData)
		n.DuplicateCount = 0
		n.Repeat = false
		n.PreviousSeverity = cur.Severity
		n.TrendIndication = trend(cur.Severity, sev)
		n.ReceiveTime = now
		n.LastReceiveID = a.ID
		n.LastReceiveTime = now
		n.Tags = unionStrings(cur.Tags, a.Tags)
		n.Attributes = mergeObjects(cur.Attributes, attrs)
		if status != cur.Status {
			n.UpdateTime = now
		}
		n.PreviousStatus = cur.Status // the severity history entry
		st = &n
	default:
		if _, taken := b.nodes[a.ID]; taken {
			return nil, "", nil, &Error{Code: 500, Message: `duplicate key value violates unique constraint "alerts_pkey"`}
		}
		_, status, e := transition("", "", set, sev, "", "")
		if e != nil {
			return nil, "", nil, &Error{Code: 500, Message: e.Message}
		}
		correlate := cloneStrings(a.Correlate)
		if len(correlate) > 0 && !containsString(correlate, a.Event) {
			correlate = append(correlate, a.Event)
		}
		st = &Stored{
			ID:               a.ID,
			LastReceiveID:    a.ID,
			Environment:      a.Environment,
			Resource:         a.Resource,
			Event:            a.Event,
			Severity:         sev,
			Customer:         cloneStringPtr(a.Customer),
			Correlate:        correlate,
			Status:           status,
			PreviousSeverity: severityPrevious,
			TrendIndication:  trend(severityPrevious, sev),
			CreateTime:       a.CreateTime.UTC(),
			ReceiveTime:      now,
			LastReceiveTime:  now,
			UpdateTime:       now,
			Timeout:          a.Timeout,
			DedupKey:         DedupKey(a.Environment, a.Resource, a.Event, a.Customer),
			Service:          cloneStrings(a.Service),
			Group:            a.Group,
			Value:            cloneStringPtr(a.Value),
			Text:             a.Text,
			Tags:             unionStrings(nil, a.Tags),
			Attributes:       mergeObjects(nil, attrs),
			Origin:           a.Origin,
			Type:             a.Type,
			RawData:          cloneStringPtr(a.RawData),
		}
	}
	st.Body = a.Encode()
	bare := st.sizeWithoutBody()
	if b.MaxStored > 0 && bare > b.MaxStored {
		return nil, "", nil, &Error{Code: 413, Message: fmt.Sprintf("alert would be %d bytes stored, over the limit of %d", bare, b.MaxStored)}
	}
	size := bare + bodySize(st.Body)
	if e := b.tooLarge(size); e != nil {
		return nil, "", nil, e
	}
	if cur != nil {
		b.unindex(cur.ID)
	}
	evicted = b.makeRoom("", now, size)
	b.index(st, size)
	return st, kind, evicted, nil
}

// Act applies an operator action to the alert id resolves to (as Resolve), as
// Alerta's from_action does with the ALERTA alarm model (§5.2): 400 for no action
// (checked first, as Alerta), 404 "not found" for an unknown id, 409 for an action
// invalid in the current status, and for a custom action no change of status or
// severity. The action's timeout is Alerta's history
// entry's (ack and shelve timeouts of its housekeeping), not the alert's: it is not
// kept. The changed alert can be a few bytes larger (its statuses); beyond the
// byte budget other alerts are evicted as Receive does, and evicted lists them.
func (b *Book) Act(id string, a *Action, now time.Time) (st *Stored, evicted []string, err *Error) {
	if a == nil || a.Action == "" {
		return nil, nil, &Error{Code: 400, Message: "must supply 'action' as json data"}
	}
	cur, ok := b.Resolve(id)
	if !ok {
		return nil, nil, &Error{Code: 404, Message: "not found"}
	}
	prev := cur.PreviousStatus
	switch a.Action {
	case actionUnack:
		prev = cur.BeforeAck
	case actionUnshelve:
		prev = cur.BeforeShelve
	}
	sev, status, e := transition(cur.Status, prev, cur.Status, cur.Severity, cur.PreviousSeverity, a.Action)
	if e != nil {
		return nil, nil, e
	}
	n := *cur
	n.Severity = sev
	n.Status = status
	if sev != cur.Severity {
		n.PreviousSeverity = cur.Severity
	}
	n.UpdateTime = now.UTC()
	n.PreviousStatus = cur.Status // every action adds a history entry
	switch a.Action {
	case actionAck:
		n.BeforeAck = cur.Status
	case actionShelve:
		n.BeforeShelve = cur.Status
	}
	st = &n
	size := st.Size()
	if e := b.tooLarge(size); e != nil {
		return nil, nil, e
	}
	b.unindex(cur.ID)
	evicted = b.makeRoom("", now, size)
	b.index(st, size)
	return st, evicted, nil
}

func builtinAction(a string) bool {
	switch a {
	case actionOpen, actionAssign, actionAck, actionUnack, actionShelve, actionUnshelve,
		actionClose, actionExpired, actionTimeout:
		return true
	}
	return false
}

// trend is the ALERTA model's trend indication from severity previous to current.
func trend(previous, current string) string {
	p, ok1 := SeverityCode(previous)
	c, ok2 := SeverityCode(current)
	switch {
	case !ok1 || !ok2 || p == c:
		return trendNoChange
	case p > c:
		return trendMoreSevere
	default:
		return trendLessSevere
	}
}

func invalidAction(state string) *Error {
	return &Error{Code: 409, Message: fmt.Sprintf("invalid action for current %s status", state)}
}

func alreadyIn(state string) *Error {
	return &Error{Code: 409, Message: fmt.Sprintf("alert is already in %s status", state)}
}

// transition is the ALERTA alarm model's state machine (Alerta 9.1
// alerta/models/alarms/alerta.py), rule for rule: state is the current status,
// prevStatus the previous one, set the status the alert itself carries (an
// incoming alert's asked-for status, the stored alert's for an action), sev and
// prevSev its severity and previous severity, action "" for an incoming alert. It
// returns the new severity and status, or a 409 (or 400 for an unknown severity).
func transition(state, prevStatus, set, sev, prevSev, action string) (string, string, *Error) {
	if state == "" {
		state = statusOpen
	}
	if prevStatus == "" {
		prevStatus = statusOpen
	}
	if prevSev == "" {
		prevSev = severityPrevious
	}
	code, ok := SeverityCode(sev)
	if !ok {
		return "", "", &Error{Code: 400, Message: fmt.Sprintf("Severity (%s) is not one of %s", clipString(sev, 64), strings.Join(Severities(), ", "))}
	}
	normal := code == normalLevel

	// An unknown action was handled by a plugin: nothing changes (ACT-1).
	if action != "" && !builtinAction(action) {
		return sev, set, nil
	}
	// A non-default status set by the sender is kept, but normal alerts close (SET).
	if action == "" && set != statusOpen {
		if normal {
			return severityNormal, statusClosed, nil
		}
		return sev, set, nil
	}
	switch action {
	case actionUnack:
		if state == statusAck {
			return sev, prevStatus, nil
		}
		return "", "", invalidAction(state)
	case actionUnshelve:
		if state == statusShelved {
			return sev, prevStatus, nil
		}
		return "", "", invalidAction(state)
	case actionExpired:
		return sev, statusExpired, nil
	case actionTimeout:
		if prevStatus == statusAck {
			return sev, statusAck, nil
		}
		return sev, statusOpen, nil
	}
	switch state {
	case statusOpen:
		switch action {
		case actionOpen:
			return "", "", alreadyIn(state)
		case actionAck:
			return sev, statusAck, nil
		case actionShelve:
			return sev, statusShelved, nil
		case actionClose:
			return severityNormal, statusClosed, nil
		}
	case statusAck:
		switch action {
		case actionOpen:
			return sev, statusOpen, nil
		case actionAck:
			return "", "", alreadyIn(state)
		case actionShelve:
			return sev, statusShelved, nil
		case actionClose:
			return severityNormal, statusClosed, nil
		}
		// An acknowledged alert re-opens when its severity really increases.
		if prevSev != severityPrevious && trend(prevSev, sev) == trendMoreSevere {
			return sev, statusOpen, nil
		}
	case statusShelved:
		switch action {
		case actionOpen:
			return sev, statusOpen, nil
		case actionAck:
			return "", "", invalidAction(state)
		case actionShelve:
			return "", "", alreadyIn(state)
		case actionClose:
			return severityNormal, statusClosed, nil
		}
	case statusBlackout:
		if action == actionClose {
			return severityNormal, statusClosed, nil
		}
		if prevStatus != statusBlackout {
			return sev, prevStatus, nil
		}
		return sev, set, nil
	case statusClosed:
		switch action {
		case actionOpen:
			return prevSev, statusOpen, nil
		case actionAck, actionShelve:
			return "", "", invalidAction(state)
		case actionClose:
			return "", "", alreadyIn(state)
		}
		if !normal {
			if prevStatus == statusShelved {
				return prevSev, statusShelved, nil
			}
			return prevSev, statusOpen, nil
		}
	}
	// Normal severity alerts close from any state.
	if normal {
		return severityNormal, statusClosed, nil
	}
	if state == statusExpired {
		if action != "" && action != actionOpen {
			return "", "", invalidAction(state)
		}
		return sev, statusOpen, nil
	}
	return sev, state, nil
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

func cloneStringPtr(p *string) *string {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// unionStrings is Postgres's ARRAY(SELECT DISTINCT UNNEST(old || add)) in a stable
// order: old's elements, then add's new ones, each once.
func unionStrings(old, add []string) []string {
	seen := make(map[string]struct{}, len(old)+len(add))
	out := make([]string, 0, len(old)+len(add))
	for _, list := range [][]string{old, add} {
		for _, v := range list {
			if _, dup := seen[v]; !dup {
				seen[v] = struct{}{}
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// objMember is one key and raw value of a JSON object.
type objMember struct {
	key string
	raw json.RawMessage
}

// objectMembers splits a JSON object into its members, in order; a key given twice
// keeps its first place and its last value, as Python's json.loads.
func objectMembers(raw []byte) ([]objMember, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []objMember
	at := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("not a JSON object")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if i, dup := at[key]; dup {
			out[i].raw = v
			continue
		}
		at[key] = len(out)
		out = append(out, objMember{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) != 0 {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return out, nil
}

// mergeObjects is Postgres's jsonb old || add: add's members replace old's of the
// same key, new keys are appended. Both are valid JSON objects (or empty).
func mergeObjects(old, add []byte) []byte {
	om, _ := objectMembers(old)
	am, _ := objectMembers(add)
	at := make(map[string]int, len(om))
	for i, m := range om {
		at[m.key] = i
	}
	for _, m := range am {
		if i, ok := at[m.key]; ok {
			om[i].raw = m.raw
			continue
		}
		at[m.key] = len(om)
		om = append(om, m)
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range om {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(appendPyString(nil, m.key))
		buf.WriteByte(':')
		var c bytes.Buffer
		if json.Compact(&c, m.raw) == nil {
			buf.Write(c.Bytes())
		} else {
			buf.Write(m.raw)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
