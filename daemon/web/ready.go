package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/edgerelay/edgerelay/daemon/health"
)

// reservedKeys are the /ready object keys that neither condition names nor extra fields
// may override.
var reservedKeys = map[string]bool{"component": true, "state": true, "error": true, "components": true}

// readyAnswer returns the status and JSON body of a /ready answer: 204 and no body when
// every condition holds, 200 with the component list when something is degraded, 503
// when the daemon is not ready. The shapes are documented in the package comment.
func readyAnswer(t *health.Tracker) (int, []byte) {
	if t.Stopping() {
		var b bytes.Buffer
		writeComponent(&b, health.DaemonComponent, "", nil, health.StoppingDetail, nil)
		return http.StatusServiceUnavailable, b.Bytes()
	}
	// One snapshot gives the failing conditions and the booleans of the conditions
	// that still hold, consistently.
	snap := t.Snapshot()
	type comp struct {
		name   string
		sev    health.Severity // the worst failing severity
		fields map[string]any
		errs   []string // details of the failing conditions of severity sev
	}
	var failing []*comp
	byName := map[string]*comp{}
	for _, c := range snap {
		if c.OK {
			continue
		}
		fc := byName[c.Component]
		if fc == nil {
			fc = &comp{name: c.Component, fields: map[string]any{}}
			byName[c.Component] = fc
			failing = append(failing, fc)
		}
		if c.Severity > fc.sev {
			fc.sev, fc.errs = c.Severity, nil
		}
		if c.Severity == fc.sev && c.Detail != "" {
			fc.errs = append(fc.errs, c.Detail)
		}
	}
	if len(failing) == 0 {
		return http.StatusNoContent, nil
	}
	for _, c := range snap {
		fc := byName[c.Component]
		if fc == nil {
			continue
		}
		fc.fields[c.Name] = c.OK
		for k, v := range c.Fields {
			fc.fields[k] = v
		}
	}
	var all bytes.Buffer
	all.WriteByte('[')
	var first *comp // the first critical component, by name
	for i, fc := range failing {
		if i > 0 {
			all.WriteByte(',')
		}
		writeComponent(&all, fc.name, fc.sev.String(), fc.fields, strings.Join(fc.errs, "; "), nil)
		if first == nil && fc.sev == health.Critical {
			first = fc
		}
	}
	all.WriteByte(']')
	var b bytes.Buffer
	if first == nil {
		b.WriteString(`{"components":`)
		b.Write(all.Bytes())
		b.WriteByte('}')
		return http.StatusOK, b.Bytes()
	}
	writeComponent(&b, first.name, "", first.fields, strings.Join(first.errs, "; "), all.Bytes())
	return http.StatusServiceUnavailable, b.Bytes()
}

// writeComponent writes {"component":name, "state":state (when not empty), <fields in
// key order>, "error":errText} and, when components is not nil, a final "components"
// member holding it verbatim.
func writeComponent(b *bytes.Buffer, name, state string, fields map[string]any, errText string, components []byte) {
	b.WriteString(`{"component":`)
	writeJSON(b, name)
	if state != "" {
		b.WriteString(`,"state":`)
		writeJSON(b, state)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if !reservedKeys[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(',')
		writeJSON(b, k)
		b.WriteByte(':')
		writeJSON(b, fields[k])
	}
	b.WriteString(`,"error":`)
	writeJSON(b, errText)
	if components != nil {
		b.WriteString(`,"components":`)
		b.Write(components)
	}
	b.WriteByte('}')
}

// writeJSON encodes v; a value JSON cannot encode is written as its fmt text so that a
// bad field never breaks the diagnosis.
func writeJSON(b *bytes.Buffer, v any) {
	enc, err := json.Marshal(v)
	if err != nil {
		enc, _ = json.Marshal(fmt.Sprint(v))
	}
	b.Write(enc)
}
