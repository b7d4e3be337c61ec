package forward

// TEMPORARY: stand-ins for the model's filter.go, loop.go, wire.go and the mapping
// helper's convert.go until they land on main; each is replaced by the alerta
// package's function of the same meaning (COMMON.md).

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/edgerelay/edgerelay/adapters"
)

type filter []string

func (f filter) has(w ...string) bool {
	for _, x := range f {
		for _, y := range w {
			if x == y {
				return true
			}
		}
	}
	return false
}
func (f filter) Alerts() bool            { return f.has("*", "alerts") }
func (f filter) Action(name string) bool { return f.has("*", "actions", name) }
func (f filter) Delete() bool            { return f.has("*", "delete") }
func (f filter) Heartbeats() bool        { return f.has("*", "heartbeats") }
func (f filter) Unknown() []string       { return nil }

func loopSkip(header, dest string) bool {
	if header == "" {
		return false
	}
	if strings.Contains(header, dest) {
		return true
	}
	norm := func(s string) string { return strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/")) }
	for _, e := range strings.Split(header, ",") {
		if norm(e) == norm(dest) {
			return true
		}
	}
	return false
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func validSeverity(s string) bool {
	switch s {
	case "security", "critical", "major", "minor", "warning", "indeterminate", "informational",
		"normal", "ok", "cleared", "debug", "trace", "unknown":
		return true
	}
	return false
}

func actionName(body []byte) (string, error) {
	var a struct {
		Action *string `json:"action"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Action == nil || *a.Action == "" {
		return "", fmt.Errorf("must supply 'action' as json data")
	}
	return *a.Action, nil
}

type converted struct {
	Op, ID       string
	Body, Resend []byte
}

func convert(e *adapters.Event, o ConvertConfig) (converted, error) {
	if e.Kind == adapters.KindHeartbeat {
		origin := o.Origin
		if origin == "" {
			origin = e.Source
		}
		b, _ := json.Marshal(origin)
		return converted{Op: "heartbeat", Body: []byte(`{"origin": ` + string(b) + `, "tags": [], "attributes": {}, "timeout": 86400}`)}, nil
	}
	env := o.Environment
	if env == "" {
		env = "Production"
	}
	ev := o.Event
	if ev == "" {
		ev = "edgerelay"
	}
	sev := o.Severity
	if sev == "" {
		sev = "warning"
	}
	res := e.Topic
	if res == "" {
		res = e.Source
	}
	id := newUUID()
	m := map[string]any{"id": id, "resource": res, "event": ev, "environment": env, "severity": sev, "text": string(e.Payload)}
	b, err := json.Marshal(m)
	return converted{Op: "alert", ID: id, Body: b}, err
}
