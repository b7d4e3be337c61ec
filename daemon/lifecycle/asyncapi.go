package lifecycle

import (
	"bytes"
	"encoding/json"
	"html"
	"strings"
	"sync"
	"time"

	contract "github.com/edgerelay/edgerelay/adapters/lifecycle"
)

// ExampleTime is the time of the catalogue's examples.
var ExampleTime = time.Date(2026, 12, 1, 19, 0, 0, 123e6, time.UTC)

// Example returns the example envelope of t: its fields' examples as data, corename
// "plant-7", a fixed id and node.
func Example(t EventType) []byte {
	d := new(Data)
	for _, f := range t.Data {
		d.Set(f.Name, f.Example)
	}
	env := &Envelope{ID: "01JE5Q4B7C8D9E0F1G2H3J4K5M", Source: SourceURI("plant-7", "01JE5Q2W9RZ7K3M4N5P6Q7R8ST"),
		Type: t.Type, Time: ExampleTime, CoreName: "plant-7", Data: d}
	return env.Encode()
}

// AsyncAPI returns the AsyncAPI 3.0 document of the catalogue (JSON), as served at
// GET /api/asyncapi.
func AsyncAPI() []byte { return asyncAPIDoc() }

var asyncAPIDoc = sync.OnceValue(func() []byte {
	channels := map[string]any{}
	operations := map[string]any{}
	messages := map[string]any{}
	schemas := map[string]any{}
	for _, t := range Catalogue {
		id := t.Type
		channels[id] = map[string]any{
			"address":     t.Type,
			"title":       t.Type,
			"description": t.When + " Where each broker puts it: " + where(t.Type),
			"messages":    map[string]any{id: map[string]any{"$ref": "#/components/messages/" + id}},
		}
		operations["publish."+id] = map[string]any{
			"action":   "send",
			"channel":  map[string]any{"$ref": "#/channels/" + id},
			"messages": []any{map[string]any{"$ref": "#/channels/" + id + "/messages/" + id}},
		}
		var example any
		_ = json.Unmarshal(Example(t), &example)
		messages[id] = map[string]any{
			"name": t.Type, "title": t.Type, "summary": t.When,
			"contentType": contract.ContentType,
			"payload":     map[string]any{"$ref": "#/components/schemas/" + id},
			"examples":    []any{map[string]any{"name": "example", "payload": example}},
		}
		props := map[string]any{}
		var required []string
		for _, f := range t.Data {
			p := map[string]any{"description": f.Doc}
			switch {
			case f.Type == Strings:
				p["type"] = "array"
				p["items"] = map[string]any{"type": "string"}
			case f.Nullable:
				p["type"] = []string{f.Type, "null"}
			default:
				p["type"] = f.Type
			}
			props[f.Name] = p
			required = append(required, f.Name)
		}
		schemas[id] = map[string]any{
			"type":     "object",
			"required": []string{"specversion", "id", "source", "type", "time", "datacontenttype", "corename", "data"},
			"properties": map[string]any{
				"specversion":     map[string]any{"const": "1.0"},
				"id":              map[string]any{"type": "string", "description": "Unique per event (a ULID)."},
				"source":          map[string]any{"type": "string", "format": "uri-reference", "description": "edgerelay://<corename>/<node id>."},
				"type":            map[string]any{"const": t.Type},
				"time":            map[string]any{"type": "string", "format": "date-time"},
				"datacontenttype": map[string]any{"const": "application/json"},
				"corename":        map[string]any{"type": "string", "description": "CORE_NAME: the gateway's name (a CloudEvents extension attribute)."},
				"data": map[string]any{"type": "object", "required": required, "properties": props,
					"additionalProperties": true},
			},
		}
	}
	doc := map[string]any{
		"asyncapi": "3.0.0",
		"info": map[string]any{
			"title":   "edgerelay lifecycle events",
			"version": "1.0.0",
			"description": "What an edgerelay gateway publishes about itself and the alerts it carries: CloudEvents 1.0, " +
				"structured JSON mode, to the broker events.adapter (EVENT_BROKER_ADAPTER) names. type and corename are " +
				"promoted to the broker's headers or attributes. See docs/lifecycle-events.md.",
		},
		"defaultContentType": contract.ContentType,
		"channels":           channels,
		"operations":         operations,
		"components":         map[string]any{"messages": messages, "schemas": schemas},
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
})

// where says where each adapter puts an event of type typ.
func where(typ string) string {
	return "nats subject " + typ + "; kafka topic " + contract.DomainTopic(typ) + "; amqp091 exchange edge.events, routing key " + typ +
		"; redis channel " + typ + "; mqtt topic " + contract.MQTTTopic(typ) + "; aws_sns topic <prefix>" + contract.DomainTopic(typ) +
		"; google_pubsub topic <prefix>" + contract.DomainTopic(typ) + "."
}

// AsyncDoc returns the readable page of the catalogue served at GET /asyncdoc:
// static HTML, no script, no external resource.
func AsyncDoc() []byte { return asyncDocPage() }

var asyncDocPage = sync.OnceValue(func() []byte {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width, initial-scale=1"><title>edgerelay lifecycle events</title>` +
		`<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#222}` +
		`code,pre{font:13px ui-monospace,monospace}pre{background:#f4f4f4;padding:.6rem;overflow:auto}` +
		`table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.25rem .4rem;text-align:left;vertical-align:top}` +
		`h2{margin-top:2rem;border-top:1px solid #ddd;padding-top:1rem}</style></head><body>`)
	b.WriteString(`<h1>edgerelay lifecycle events</h1><p>CloudEvents 1.0 in structured JSON mode (<code>` + contract.ContentType +
		`</code>). <code>type</code> and <code>corename</code> are promoted to the broker's headers or attributes. ` +
		`The machine-readable AsyncAPI 3.0 document is at <a href="/api/asyncapi"><code>/api/asyncapi</code></a>.</p><ul>`)
	for _, t := range Catalogue {
		b.WriteString(`<li><a href="#` + esc(t.Type) + `"><code>` + esc(t.Type) + `</code></a></li>`)
	}
	b.WriteString(`</ul>`)
	for _, t := range Catalogue {
		b.WriteString(`<h2 id="` + esc(t.Type) + `"><code>` + esc(t.Type) + `</code></h2><p>` + esc(t.When) + `</p>`)
		b.WriteString(`<p>` + esc("Where: "+where(t.Type)) + `</p>`)
		b.WriteString(`<table><tr><th>data member</th><th>type</th><th>meaning</th></tr>`)
		for _, f := range t.Data {
			typ := f.Type
			if f.Type == Strings {
				typ = "array of strings"
			}
			if f.Nullable {
				typ += " or null"
			}
			b.WriteString(`<tr><td><code>` + esc(f.Name) + `</code></td><td>` + esc(typ) + `</td><td>` + esc(f.Doc) + `</td></tr>`)
		}
		b.WriteString(`</table>`)
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, Example(t), "", "  ")
		b.WriteString(`<pre>` + esc(pretty.String()) + `</pre>`)
	}
	b.WriteString(`</body></html>`)
	return []byte(b.String())
})
