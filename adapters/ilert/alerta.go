package ilert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/internal/text"
)

// The Alerta federation's event attributes and ops (package alerta's AttrOp, AttrID,
// AttrDedup, AttrResend and Op* constants), copied here because build tags drop each
// adapter separately: this package must not import adapters/alerta. A test there holds
// the copies equal.
const (
	AlertaAttrOp     = "alerta.op"
	AlertaAttrID     = "alerta.id"
	AlertaAttrDedup  = "alerta.dedup"
	AlertaAttrResend = "alerta.resend"

	AlertaOpAlert     = "alert"
	AlertaOpAction    = "action"
	AlertaOpDelete    = "delete"
	AlertaOpHeartbeat = "heartbeat"
)

// Bounds of what an Alerta event becomes. ilert documents no limit for alertKey (its
// schema says only "we will trim this value if necessary"), and trimming would merge
// two alerts whose keys share a prefix, so a longer key is shortened here with a hash
// of the whole key; the other bounds keep one event well inside a request ilert and
// ilagent's own proxy (16000 bytes) accept.
const (
	MaxAlertKey       = 255
	maxSummary        = 255
	maxDetails        = 4 << 10
	maxDetailField    = 256 // one string member of customDetails
	maxCustomDetails  = 8 << 10
	alertKeyHashBytes = 8 // hex-encoded: 16 digits
)

// AlertaDedupKey is package alerta's DedupKey, copied for the same reason as the
// attribute names: environment, resource and event joined by '|', and the customer
// after a fourth '|' when there is one.
func AlertaDedupKey(environment, resource, event string, customer *string) string {
	k := environment + "|" + resource + "|" + event
	if customer != nil {
		k += "|" + *customer
	}
	return k
}

// BoundAlertKey returns k when it fits in MaxAlertKey bytes, else a prefix of it cut
// at a character boundary, '#' and 16 hex digits of a SHA-256 of the whole key: the
// same key always gives the same result, and two long keys differing anywhere give
// different ones.
func BoundAlertKey(k string) string {
	if len(k) <= MaxAlertKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	tail := "#" + hex.EncodeToString(sum[:alertKeyHashBytes])
	return text.Cut(k, MaxAlertKey-len(tail)) + tail
}

// alertaAlert is the part of an Alerta alert body (spec alerta-federation.md §2.1)
// the mapping reads. Value is raw because Alerta accepts a number there; Status is
// absent from forwarded bodies but honoured when a body carries it.
type alertaAlert struct {
	ID          string          `json:"id"`
	Resource    string          `json:"resource"`
	Event       string          `json:"event"`
	Environment string          `json:"environment"`
	Severity    string          `json:"severity"`
	Status      string          `json:"status"`
	Service     []string        `json:"service"`
	Group       string          `json:"group"`
	Value       json.RawMessage `json:"value"`
	Text        string          `json:"text"`
	Tags        []string        `json:"tags"`
	Attributes  json.RawMessage `json:"attributes"`
	Origin      string          `json:"origin"`
	Type        string          `json:"type"`
	Customer    *string         `json:"customer"`
}

// alertaAction is an Alerta action body (§2.2).
type alertaAction struct {
	Action string `json:"action"`
	Text   string `json:"text"`
}

// alertaSeverity maps an Alerta severity (§5.1) to the ilert event type and
// priority; an empty type means the alert is not sent.
var alertaSeverity = map[string]struct{ eventType, priority string }{
	"security":      {typeAlert, "HIGH"},
	"critical":      {typeAlert, "HIGH"},
	"major":         {typeAlert, "HIGH"},
	"minor":         {typeAlert, "LOW"},
	"warning":       {typeAlert, "LOW"},
	"indeterminate": {typeAlert, "LOW"},
	"informational": {typeAlert, "LOW"},
	"normal":        {typeResolve, ""},
	"ok":            {typeResolve, ""},
	"cleared":       {typeResolve, ""},
	"debug":         {"", ""},
	"trace":         {"", ""},
	"unknown":       {"", ""},
}

// fromAlerta converts an event of the Alerta federation (one with AlertaAttrOp) into
// an ilert event body without integrationKey, for the sink to fill in as for any
// event. A non-empty skip says why the event has no ilert equivalent and is not sent;
// an error (permanent) names what is wrong with the event, with at most a short
// redacted excerpt of its payload.
func fromAlerta(e *adapters.Event) (body []byte, skip string, err error) {
	op := e.Attrs[AlertaAttrOp]
	var ev *Event
	switch op {
	case AlertaOpAlert:
		ev, skip, err = alertaAlertEvent(e)
	case AlertaOpAction:
		ev, skip, err = alertaActionEvent(e)
	case AlertaOpDelete:
		ev, err = alertaDeleteEvent(e)
	case AlertaOpHeartbeat:
		return nil, "an Alerta heartbeat has no ilert equivalent: ilert heartbeats are per integration key (self_heartbeat_key, or a heartbeat route)", nil
	default:
		return nil, "", fmt.Errorf("%s %s is not %s, %s, %s or %s", AlertaAttrOp, excerpt(op),
			AlertaOpAlert, AlertaOpAction, AlertaOpDelete, AlertaOpHeartbeat)
	}
	if err != nil || skip != "" {
		return nil, skip, err
	}
	body, err = ev.Encode()
	return body, "", err
}

// alertaAlertEvent maps op alert: the severity (or a closed or expired status) gives
// the event type and priority.
func alertaAlertEvent(e *adapters.Event) (*Event, string, error) {
	a, err := parseAlertaAlert(e.Payload)
	if err != nil {
		return nil, "", err
	}
	sev := a.Severity
	if sev == "" {
		sev = "normal" // Alerta's default (§5.1); Encode always writes one
	}
	m, ok := alertaSeverity[sev]
	if !ok {
		return nil, "", fmt.Errorf("alerta alert: severity %s is not an Alerta severity", excerpt(sev))
	}
	switch a.Status {
	case "closed", "expired":
		m.eventType, m.priority = typeResolve, ""
	}
	if m.eventType == "" {
		return nil, "severity " + sev + " is not sent to ilert (debug, trace and unknown carry no alert)", nil
	}
	key := e.Attrs[AlertaAttrDedup]
	if key == "" {
		key = AlertaDedupKey(a.Environment, a.Resource, a.Event, a.Customer)
	}
	ev := &Event{EventType: m.eventType, Summary: a.summary(), Details: a.details()}
	ev.AlertKey = ptr(BoundAlertKey(key))
	if m.priority != "" {
		ev.Priority = ptr(m.priority)
	}
	ev.CustomDetails = a.customDetails(sev, nil)
	return ev, "", nil
}

// Event types an Alerta event becomes.
const (
	typeAlert   = "ALERT"
	typeAccept  = "ACCEPT"
	typeResolve = "RESOLVE"
)

// alertaActionEvent maps op action: close and expired resolve (the alert's status
// becomes closed or expired, the rule for alerts), ack accepts, every other action
// (unack, open, shelve, unshelve, assign, timeout, custom) has no ilert equivalent.
func alertaActionEvent(e *adapters.Event) (*Event, string, error) {
	var act alertaAction
	if err := decodeObject(e.Payload, &act); err != nil {
		return nil, "", fmt.Errorf("alerta action: %w", err)
	}
	var eventType string
	switch act.Action {
	case "close", "expired":
		eventType = typeResolve
	case "ack":
		eventType = typeAccept
	case "":
		return nil, "", errors.New("alerta action: no action in the payload")
	default:
		return nil, "action " + strconv.Quote(text.Bound(act.Action, 64)) + " has no ilert equivalent (only ack, close and expired are sent)", nil
	}
	ev, err := alertaFollowUp(e, eventType, act.Action)
	if err != nil {
		return nil, "", err
	}
	if act.Text != "" {
		ev.Details = ptr(text.Bound(act.Text, maxDetails))
	}
	return ev, "", nil
}

// alertaDeleteEvent maps op delete: the alert is gone from Alerta, so it is resolved.
func alertaDeleteEvent(e *adapters.Event) (*Event, error) {
	ev, err := alertaFollowUp(e, typeResolve, "")
	if err == nil {
		ev.Details = ptr("deleted in Alerta")
	}
	return ev, err
}

// alertaFollowUp builds the event of an action or delete: the alert key from
// AlertaAttrDedup (else from the alert's last body, AlertaAttrResend), the summary
// and customDetails from that body when there is one. action is the action's name,
// "" for a delete.
func alertaFollowUp(e *adapters.Event, eventType, action string) (*Event, error) {
	op := e.Attrs[AlertaAttrOp]
	var a *alertaAlert
	if r := e.Attrs[AlertaAttrResend]; r != "" {
		a, _ = parseAlertaAlert([]byte(r)) // context only: without it the event still goes
	}
	key := e.Attrs[AlertaAttrDedup]
	if key == "" && a != nil {
		key = AlertaDedupKey(a.Environment, a.Resource, a.Event, a.Customer)
	}
	if key == "" {
		return nil, fmt.Errorf("alerta %s: no %s attribute (and no alert body in %s) to name the ilert alert", op, AlertaAttrDedup, AlertaAttrResend)
	}
	id := e.Attrs[AlertaAttrID]
	if id == "" {
		id = e.Key
	}
	ev := &Event{EventType: eventType, AlertKey: ptr(BoundAlertKey(key))}
	extra := map[string]string{"op": op}
	if action != "" {
		extra["action"] = text.Bound(action, maxDetailField)
	}
	if a != nil {
		ev.Summary = a.summary()
		if a.ID == "" {
			a.ID = id
		}
		ev.CustomDetails = a.customDetails(a.Severity, extra)
	} else {
		ev.Summary = text.Bound("Alerta alert "+id, maxSummary)
		extra["id"] = text.Bound(id, maxDetailField)
		ev.CustomDetails, _ = json.Marshal(extra)
	}
	return ev, nil
}

// parseAlertaAlert decodes an alert body and checks its mandatory fields.
func parseAlertaAlert(payload []byte) (*alertaAlert, error) {
	var a alertaAlert
	if err := decodeObject(payload, &a); err != nil {
		return nil, fmt.Errorf("alerta alert: %w", err)
	}
	switch {
	case a.Resource == "":
		return nil, errors.New(`alerta alert: missing mandatory value for "resource"`)
	case a.Event == "":
		return nil, errors.New(`alerta alert: missing mandatory value for "event"`)
	}
	return &a, nil
}

// decodeObject decodes a JSON object into v. Its error names the problem and carries
// at most a short redacted excerpt of the payload.
func decodeObject(payload []byte, v any) error {
	if len(payload) == 0 {
		return errors.New("empty payload")
	}
	if err := json.Unmarshal(payload, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return fmt.Errorf("payload is not a JSON object (%s)", te.Value)
			}
			return fmt.Errorf("field %s: %s, want %s", te.Field, te.Value, te.Type)
		}
		return fmt.Errorf("payload is not valid JSON (starts %q)", httpc.Excerpt(payload, 32))
	}
	return nil
}

// summary is "<resource>: <event>", then " - <text>" when there is a text, on one
// line and bounded.
func (a *alertaAlert) summary() string {
	s := a.Resource + ": " + a.Event
	if a.Text != "" {
		s += " - " + a.Text
	}
	return text.Bound(oneLine(s), maxSummary)
}

// details is the text, then "Value: <value>" when the alert has one; nil when it has
// neither.
func (a *alertaAlert) details() *string {
	var parts []string
	if a.Text != "" {
		parts = append(parts, a.Text)
	}
	if v := a.value(); v != "" {
		parts = append(parts, "Value: "+v)
	}
	if parts == nil {
		return nil
	}
	return ptr(text.Bound(strings.Join(parts, "\n\n"), maxDetails))
}

// value returns the value as text: a string as it is, a number as written, "" for
// null or anything else.
func (a *alertaAlert) value() string {
	raw := strings.TrimSpace(string(a.Value))
	if raw == "" || raw == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(a.Value, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(a.Value, &n) == nil {
		return n.String()
	}
	return ""
}

// customDetails renders the Alerta fields as the event's customDetails, bounded to
// maxCustomDetails: a string member is cut at maxDetailField bytes, and when the whole
// is still too long the attributes, then the tags and services, are replaced by a
// note saying how long they were.
func (a *alertaAlert) customDetails(severity string, extra map[string]string) json.RawMessage {
	s := func(v string) string { return text.Bound(v, maxDetailField) }
	m := map[string]any{
		"id": s(a.ID), "resource": s(a.Resource), "event": s(a.Event),
		"environment": s(a.Environment), "severity": s(severity), "group": s(a.Group),
		"origin": s(a.Origin), "type": s(a.Type),
		"service": boundList(a.Service), "tags": boundList(a.Tags),
	}
	if a.Status != "" {
		m["status"] = s(a.Status)
	}
	if a.Customer != nil {
		m["customer"] = s(*a.Customer)
	}
	if v := a.value(); v != "" {
		m["value"] = s(v)
	}
	if attrs := strings.TrimSpace(string(a.Attributes)); attrs != "" && attrs != "null" {
		m["attributes"] = json.RawMessage(a.Attributes)
	}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err == nil && len(b) <= maxCustomDetails {
		return b
	}
	// Too long (or attributes that are not valid JSON): drop the big members first.
	for _, k := range []string{"attributes", "tags", "service"} {
		if _, ok := m[k]; !ok {
			continue
		}
		if v, err := json.Marshal(m[k]); err == nil {
			m[k] = fmt.Sprintf("omitted: %d bytes", len(v))
		} else {
			m[k] = "omitted: not valid JSON"
		}
		if b, err = json.Marshal(m); err == nil && len(b) <= maxCustomDetails {
			return b
		}
	}
	return b
}

// boundList bounds each element of l and keeps it non-nil, so it renders as [].
func boundList(l []string) []string {
	out := make([]string, len(l))
	for i, v := range l {
		out[i] = text.Bound(v, maxDetailField)
	}
	return out
}

// oneLine replaces line breaks and tabs with spaces.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}

// excerpt quotes a short redacted excerpt of s for an error.
func excerpt(s string) string { return fmt.Sprintf("%q", httpc.Excerpt([]byte(s), 32)) }

func ptr(s string) *string { return &s }
