package alerta

import (
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strconv"
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
	return newUUID()
}

// newUUID is a random (version 4) UUID, Alerta's default id.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
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
	o := newObject(14)
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
