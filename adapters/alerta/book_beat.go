package alerta

import (
	"container/heap"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// StoredBeat is one heartbeat as the book keeps it: Alerta's heartbeats row. Like a
// Stored it is replaced, never modified, by a later Beat.
type StoredBeat struct {
	ID          string
	Origin      string
	Tags        []string
	Attributes  []byte // a JSON object's raw bytes
	Type        string
	CreateTime  time.Time
	ReceiveTime time.Time
	Timeout     int
	Customer    *string
}

// beatKey is the upsert key of heartbeats: (origin, coalesce(customer, ”)).
type beatKey struct{ origin, customer string }

// beatOverhead is what a heartbeat counts against the byte budget beyond its
// strings and attributes: its times and numbers, and each string's length.
const beatOverhead = 64

// Size is what hb takes of the book's byte budget (SetMaxBytes): its strings and
// attributes, and a fixed beatOverhead.
func (hb *StoredBeat) Size() int {
	n := beatOverhead + len(hb.ID) + len(hb.Origin) + len(hb.Attributes) + len(hb.Type)
	for _, t := range hb.Tags {
		n += len(t) + 2
	}
	if hb.Customer != nil {
		n += len(*hb.Customer)
	}
	return n
}

// beatNode is one heartbeat's place in the book: the heartbeat, its upsert key, its
// size and its position in the age heap.
type beatNode struct {
	hb   *StoredBeat
	key  beatKey
	size int
	hi   int
}

// storedBeat is h as Beat would store it at now; id is the id of a new heartbeat
// (a known one keeps its own).
func (b *Book) storedBeat(h *Heartbeat, now time.Time, id func() string) (*StoredBeat, beatKey) {
	k := beatKey{h.Origin, customerKey(h.Customer)}
	attrs := h.Attributes
	if _, err := objectMembers(attrs); err != nil {
		attrs = []byte("{}")
	}
	hb := &StoredBeat{
		ID:          h.ID,
		Origin:      h.Origin,
		Tags:        cloneStrings(h.Tags),
		Attributes:  append([]byte(nil), attrs...),
		Type:        "Heartbeat",
		CreateTime:  h.CreateTime.UTC(),
		ReceiveTime: now.UTC(),
		Timeout:     h.Timeout,
		Customer:    cloneStringPtr(h.Customer),
	}
	if old := b.beats[k]; old != nil {
		hb.ID, hb.Type = old.hb.ID, old.hb.Type
	} else if hb.ID == "" {
		hb.ID = id()
	}
	return hb, k
}

// placeholderID stands for the id a new heartbeat will get when BeatFits sizes
// it: a UUID's length.
func placeholderID() string { return "00000000-0000-0000-0000-000000000000" }

// BeatFits reports the 413 that Beat would answer h with (a heartbeat larger than
// the heartbeats' whole part of the byte budget), nil when h fits, without changing
// the book: the receiver checks it before publishing the heartbeat's event.
func (b *Book) BeatFits(h *Heartbeat) *Error {
	hb, _ := b.storedBeat(h, time.Time{}, placeholderID)
	return b.beatTooLarge(hb.Size())
}

func (b *Book) beatTooLarge(size int) *Error {
	if b.maxBytes > 0 && size > b.beatBudget() {
		return &Error{Code: 413, Message: fmt.Sprintf("heartbeat would take %d bytes stored, more than the %d bytes kept for all heartbeats", size, b.beatBudget())}
	}
	return nil
}

// Beat upserts a heartbeat as Alerta's POST /heartbeat does: keyed on origin and
// customer, a known one keeps its id and type and takes the new tags, attributes,
// createTime, timeout and receive time. The book keeps at most 1000 heartbeats,
// and within the heartbeats' part of the byte budget (SetMaxBytes); beyond either,
// the least recently received are evicted. A heartbeat larger than that whole part
// is refused with 413 and the book is unchanged.
func (b *Book) Beat(h *Heartbeat, now time.Time) (*StoredBeat, *Error) {
	hb, k := b.storedBeat(h, now, b.newID)
	size := hb.Size()
	if e := b.beatTooLarge(size); e != nil {
		return nil, e
	}
	if old := b.beats[k]; old != nil {
		b.removeBeat(old)
	}
	b.fitBeats(size)
	n := &beatNode{hb: hb, key: k, size: size}
	b.beats[k] = n
	b.beatBytes += size
	heap.Push(&b.beatAge, n)
	return hb, nil
}

// fitBeats evicts the least recently received heartbeats until one more of size
// bytes fits (size 0: until the heartbeats are within their part).
func (b *Book) fitBeats(size int) {
	for len(b.beatAge) > 0 {
		full := size > 0 && len(b.beats) >= b.maxBeats
		over := b.maxBytes > 0 && b.beatBytes+size > b.beatBudget()
		if !full && !over {
			return
		}
		b.removeBeat(b.beatAge[0])
	}
}

// removeBeat takes n out of the book.
func (b *Book) removeBeat(n *beatNode) {
	delete(b.beats, n.key)
	heap.Remove(&b.beatAge, n.hi)
	b.beatBytes -= n.size
}

// Heartbeats returns every heartbeat, ordered by origin and customer.
func (b *Book) Heartbeats() []*StoredBeat {
	out := make([]*StoredBeat, 0, len(b.beats))
	for _, n := range b.beats {
		out = append(out, n.hb)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Origin != out[j].Origin {
			return out[i].Origin < out[j].Origin
		}
		return customerKey(out[i].Customer) < customerKey(out[j].Customer)
	})
	return out
}

func (b *Book) newID() string {
	if b.NewID != nil {
		return b.NewID()
	}
	return NewUUID()
}

// Latency is the heartbeat's latency in milliseconds, receive time less create
// time, truncated as Alerta's int().
func (hb *StoredBeat) Latency() int {
	return int(hb.ReceiveTime.Sub(hb.CreateTime) / time.Millisecond)
}

// Status is ok, slow (latency over HEARTBEAT_MAX_LATENCY, 2000 ms) or expired (not
// received for longer than its timeout) at now.
func (hb *StoredBeat) Status(now time.Time) string {
	switch {
	case now.Sub(hb.ReceiveTime) > time.Duration(hb.Timeout)*time.Second:
		return "expired"
	case hb.Latency() > heartbeatMaxLatencyMsec:
		return "slow"
	}
	return "ok"
}

// Output renders the heartbeat object of §5.3 at now: keys sorted, compact,
// href baseURL + "/heartbeat/" + id, latency in ms, since in whole seconds.
func (hb *StoredBeat) Output(baseURL string, now time.Time) []byte {
	o := newSortedObject(14)
	o.raw("attributes", canonicalJSON(hb.Attributes))
	o.raw("createTime", jsonTime(hb.CreateTime))
	o.raw("customer", jsonStringPtr(hb.Customer))
	o.str("href", baseURL+"/heartbeat/"+hb.ID)
	o.str("id", hb.ID)
	o.raw("latency", []byte(strconv.Itoa(hb.Latency())))
	o.raw("maxLatency", []byte(strconv.Itoa(heartbeatMaxLatencyMsec)))
	o.str("origin", hb.Origin)
	o.raw("receiveTime", jsonTime(hb.ReceiveTime))
	o.raw("since", []byte(strconv.FormatInt(int64(now.Sub(hb.ReceiveTime)/time.Second), 10)))
	o.str("status", hb.Status(now))
	o.raw("tags", jsonStrings(hb.Tags))
	o.raw("timeout", []byte(strconv.Itoa(hb.Timeout)))
	o.str("type", hb.Type)
	return o.bytes()
}

// Heartbeat finds a heartbeat by id or id prefix (Alerta's id=x OR id LIKE 'x%').
func (b *Book) Heartbeat(idOrPrefix string) (*StoredBeat, bool) {
	if idOrPrefix == "" {
		return nil, false
	}
	var best *StoredBeat
	for _, n := range b.beats {
		hb := n.hb
		if hb.ID == idOrPrefix {
			return hb, true
		}
		if strings.HasPrefix(hb.ID, idOrPrefix) && (best == nil || hb.ReceiveTime.After(best.ReceiveTime)) {
			best = hb
		}
	}
	return best, best != nil
}

// DeleteHeartbeat removes the heartbeat id resolves to (as Heartbeat).
func (b *Book) DeleteHeartbeat(idOrPrefix string) (*StoredBeat, bool) {
	hb, ok := b.Heartbeat(idOrPrefix)
	if ok {
		b.removeBeat(b.beats[beatKey{hb.Origin, customerKey(hb.Customer)}])
	}
	return hb, ok
}

// QueryHeartbeats answers GET /heartbeats (§5.3): filters status (ok, slow,
// expired; repeated for any), origin, customer, type and id (each = or repeated for
// any), tag (overlap); page and page-size as Query. As Alerta, total, pages and
// more count every heartbeat the other filters pass, before the status filter.
// Other Alerta fields are accepted and ignored; an unknown one is 400. The newest
// received come first.
func (b *Book) QueryHeartbeats(q url.Values, baseURL string, now time.Time) ([]byte, *Error) {
	var keep []func(*StoredBeat) bool
	for p, vals := range q {
		if len(vals) == 0 {
			continue
		}
		set := make(map[string]bool, len(vals))
		for _, v := range vals {
			set[v] = true
		}
		switch p {
		case "origin":
			keep = append(keep, func(hb *StoredBeat) bool { return set[hb.Origin] })
		case "type":
			keep = append(keep, func(hb *StoredBeat) bool { return set[hb.Type] })
		case "id":
			keep = append(keep, func(hb *StoredBeat) bool { return set[hb.ID] })
		case "customer":
			keep = append(keep, func(hb *StoredBeat) bool { return hb.Customer != nil && set[*hb.Customer] })
		case "tag":
			keep = append(keep, func(hb *StoredBeat) bool {
				for _, t := range hb.Tags {
					if set[t] {
						return true
					}
				}
				return false
			})
		case "status", "page", "page-size", "limit", "sort-by", "_", "callback", "token", "api-key",
			"attributes", "createTime", "timeout", "receiveTime", "latency", "since":
		default:
			if !strings.HasPrefix(p, "attributes.") {
				return nil, &Error{Code: 400, Message: "Invalid filter parameter: " + p}
			}
		}
	}
	var hits []*StoredBeat
	for _, n := range b.beats {
		hb := n.hb
		ok := true
		for _, f := range keep {
			ok = ok && f(hb)
		}
		if ok {
			hits = append(hits, hb)
		}
	}
	total := len(hits)
	page, size, pages, e := pageParams(q, total)
	if e != nil {
		return nil, e
	}
	if st := q["status"]; len(st) > 0 {
		want := make(map[string]bool, len(st))
		for _, s := range st {
			want[s] = true
		}
		kept := hits[:0]
		for _, hb := range hits {
			if want[hb.Status(now)] {
				kept = append(kept, hb)
			}
		}
		hits = kept
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].ReceiveTime.Equal(hits[j].ReceiveTime) {
			return hits[i].ReceiveTime.After(hits[j].ReceiveTime)
		}
		return hits[i].ID < hits[j].ID
	})
	lo := min((page-1)*size, len(hits))
	hi := min(lo+size, len(hits))
	var list []byte
	list = append(list, '[')
	for i, hb := range hits[lo:hi] {
		if i > 0 {
			list = append(list, ',')
		}
		list = append(list, hb.Output(baseURL, now)...)
	}
	list = append(list, ']')
	o := newSortedObject(8)
	o.raw("heartbeats", list)
	o.raw("more", []byte(strconv.FormatBool(page < pages)))
	o.raw("page", []byte(strconv.Itoa(page)))
	o.raw("pageSize", []byte(strconv.Itoa(size)))
	o.raw("pages", []byte(strconv.Itoa(pages)))
	o.str("status", "ok")
	if hi > lo {
		o.raw("total", []byte(strconv.Itoa(total)))
	} else {
		o.str("message", "not found")
		o.raw("total", []byte("0"))
	}
	return o.bytes(), nil
}
