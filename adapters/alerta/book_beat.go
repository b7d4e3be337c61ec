package alerta

import (
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

// Beat upserts a heartbeat as Alerta's POST /heartbeat does: keyed on origin and
// customer, a known one keeps its id and type and takes the new tags, attributes,
// createTime, timeout and receive time. The book keeps at most 1000 heartbeats; a
// new one beyond that evicts the least recently received.
func (b *Book) Beat(h *Heartbeat, now time.Time) *StoredBeat {
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
		hb.ID, hb.Type = old.ID, old.Type
	} else {
		if hb.ID == "" {
			hb.ID = b.newID()
		}
		for len(b.beats) >= b.maxBeats {
			var oldest beatKey
			var ot *StoredBeat
			for bk, v := range b.beats {
				if ot == nil || v.ReceiveTime.Before(ot.ReceiveTime) ||
					(v.ReceiveTime.Equal(ot.ReceiveTime) && v.ID < ot.ID) {
					oldest, ot = bk, v
				}
			}
			delete(b.beats, oldest)
		}
	}
	b.beats[k] = hb
	return hb
}

// Heartbeats returns every heartbeat, ordered by origin and customer.
func (b *Book) Heartbeats() []*StoredBeat {
	out := make([]*StoredBeat, 0, len(b.beats))
	for _, v := range b.beats {
		out = append(out, v)
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
	for _, hb := range b.beats {
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
		delete(b.beats, beatKey{hb.Origin, customerKey(hb.Customer)})
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
	for _, hb := range b.beats {
		ok := true
		for _, f := range keep {
			ok = ok && f(hb)
		}
		if ok {
			hits = append(hits, hb)
		}
	}
	total := len(hits)
	page := queryInt(q.Get("page"), 1)
	size := queryInt(q.Get("page-size"), queryInt(q.Get("limit"), 0))
	if size <= 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	pages := 0
	if total > 0 {
		pages = (total-1)/size + 1
	}
	if (total > 0 && page > pages) || page < 1 {
		return nil, &Error{Code: 416, Message: fmt.Sprintf("page out of range: 1-%d", pages)}
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
