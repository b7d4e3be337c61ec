package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/edgerelay/edgerelay/daemon/health"
)

// reservedKeys are the /ready object keys that neither condition names nor extra fields
// may override.
var reservedKeys = map[string]bool{"component": true, "error": true, "components": true}

// readyBody returns the JSON body of a 503 /ready answer, or nil when the daemon is
// ready. The shape is documented in the package comment.
func readyBody(t *health.Tracker) []byte {
	if t.Stopping() {
		var b bytes.Buffer
		writeComponent(&b, health.DaemonComponent, nil, health.StoppingDetail, nil)
		return b.Bytes()
	}
	// One snapshot gives both the failing conditions and the booleans of the conditions
	// that still hold, consistently.
	snap := t.Snapshot()
	type comp struct {
		name   string
		fields map[string]any
		errs   []string
	}
	var failing []*comp
	byName := map[string]*comp{}
	for _, c := range snap {
		if c.OK || c.Severity != health.Critical {
			continue
		}
		fc := byName[c.Component]
		if fc == nil {
			fc = &comp{name: c.Component, fields: map[string]any{}}
			byName[c.Component] = fc
			failing = append(failing, fc)
		}
		if c.Detail != "" {
			fc.errs = append(fc.errs, c.Detail)
		}
	}
	if len(failing) == 0 {
		return nil
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
	for i, fc := range failing {
		if i > 0 {
			all.WriteByte(',')
		}
		writeComponent(&all, fc.name, fc.fields, strings.Join(fc.errs, "; "), nil)
	}
	all.WriteByte(']')
	first := failing[0]
	var b bytes.Buffer
	writeComponent(&b, first.name, first.fields, strings.Join(first.errs, "; "), all.Bytes())
	return b.Bytes()
}

// writeComponent writes {"component":name, <fields in key order>, "error":errText} and,
// when components is not nil, a final "components" member holding it verbatim.
func writeComponent(b *bytes.Buffer, name string, fields map[string]any, errText string, components []byte) {
	b.WriteString(`{"component":`)
	writeJSON(b, name)
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
