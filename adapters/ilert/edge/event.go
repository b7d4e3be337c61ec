package edge

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert/internal/jsonscan"
)

// Attributes of every edge event. The header.* ones are sent by the webhook sink as
// request headers (ilagent's http mode), the env.* ones are set by the script sink
// as environment variables (ilagent's script mode).
const (
	AttrEventTypeHeader = "header.X-ilert-Event-Type"
	AttrAlertIDHeader   = "header.X-ilert-Alert-Id"
	AttrItemIDHeader    = "header.X-ilert-Edge-Item-Id"
	AttrEventTypeEnv    = "env.ILERT_EVENT_TYPE"
	AttrAlertIDEnv      = "env.ILERT_ALERT_ID"
	AttrItemIDEnv       = "env.ILERT_EDGE_ITEM_ID"
	AttrTimestampEnv    = "env.ILERT_TIMESTAMP"
)

// DefaultTopic is the topic of an item whose payload has no string eventType.
const DefaultTopic = "edge"

// EventID returns the event id of edge item id: stable across polls and restarts.
func EventID(id int64) string { return "edge-" + strconv.FormatInt(id, 10) }

// newEvent turns one edge item into an event of source name. payload is one valid
// JSON value (the poll answer was decoded whole).
func newEvent(name string, id int64, payload []byte, now time.Time) *adapters.Event {
	var et, alert, ts string
	info, obj := jsonscan.Members(payload, func(k, v jsonscan.Value) {
		switch {
		case k.Is(payload, "eventType"):
			et = str(payload, v, false)
		case k.Is(payload, "id"):
			alert = str(payload, v, true)
		case k.Is(payload, "timestamp"):
			ts = str(payload, v, false)
		}
	})
	if !obj {
		info, _ = jsonscan.Valid(payload)
	}
	if info.Spaced {
		var buf bytes.Buffer
		if json.Compact(&buf, payload) == nil {
			payload = buf.Bytes()
		}
	}
	item := strconv.FormatInt(id, 10)
	topic := et
	if topic == "" {
		topic = DefaultTopic
	}
	return &adapters.Event{
		ID: "edge-" + item, Kind: adapters.KindAlert, Key: alert, Source: name, Topic: topic,
		Payload: payload, Received: now,
		Attrs: map[string]string{
			AttrEventTypeHeader: et, AttrAlertIDHeader: alert, AttrItemIDHeader: item,
			AttrEventTypeEnv: et, AttrAlertIDEnv: alert, AttrItemIDEnv: item, AttrTimestampEnv: ts,
		},
	}
}

// str returns v, a value in data, when it is a string; with number set, a number is
// returned as its literal text. Anything else is "".
func str(data []byte, v jsonscan.Value, number bool) string {
	switch {
	case v.Kind == jsonscan.String:
		return jsonscan.Unquote(string(data[v.Start:v.End]))
	case number && v.Kind == jsonscan.Number:
		return string(data[v.Start:v.End])
	}
	return ""
}
