package mapping_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
	"github.com/edgerelay/edgerelay/adapters/ilert/mapping"
)

// fuzzConfigs are the transform configurations FuzzTransform picks from: the
// defaults, a fixed event key, every map_key_* path with etype translation, a filter,
// forward_message_payload, and Kafka.
func fuzzConfigs() []mapping.TransformConfig {
	base := func() mapping.TransformConfig {
		c := mapping.DefaultTransformConfig()
		c.Topics = mapping.Topics{Event: "ilert/+/events", Heartbeat: "ilert/heartbeats", Policy: "ilert/policies"}
		c.RoutingKeys = []string{"location", "data.team"}
		return c
	}
	plain := base()
	keyed := base()
	keyed.EventKey = "il1api-configured"
	mapped := base()
	mapped.MapKeyAlertKey, mapped.MapKeySummary, mapped.MapKeyPriority = "data.id", "data.text", "data.prio"
	mapped.MapKeyEtype, mapped.MapValEtypeAlert, mapped.MapValEtypeResolve = "state", "on", "off"
	filtered := base()
	filtered.FilterKey, filtered.FilterVal = "site.name", "plant"
	forward := base()
	forward.ForwardMessagePayload = true
	kafka := base()
	kafka.Consumer = mapping.ConsumerKafka
	return []mapping.TransformConfig{plain, keyed, mapped, filtered, forward, kafka}
}

// FuzzTransform runs arbitrary payloads on arbitrary topics through the ilert route
// transform and sends what it makes with the real ilert sink to the fake ilert API
// (ilerttest), which validates like ilert. A message is either refused with an error
// (skipped or invalid) or becomes an event the API accepts; nothing panics.
func FuzzTransform(f *testing.F) {
	for _, s := range []struct {
		topic, payload string
	}{
		{"ilert/a/events", `{"apiKey":"k1","eventType":"ALERT","summary":"down","alertKey":"a1"}`},
		{"ilert/a/events", `{"integrationKey":"il1api1","eventType":"resolve","alertKey":"a1","priority":"low"}`},
		{"ilert/a/events", `{"eventType":"COMMENT","images":[{"src":"http://x/i.png","alt":null}],"links":[{"href":"h","text":"t"}],"customDetails":{"a":[1,2]}}`},
		{"ilert/a/events", `{"state":"off","data":{"id":"d1","text":"t","prio":"HIGH"},"site":{"name":"plant"}}`},
		{"ilert/a/events", `{"integrationKey":"a/b","eventType":"ALERT"}`},
		{"ilert/a/events", `{"integrationKey":"","apiKey":"x","eventType":"Alert","summary":"\u00e9\u2028<&>"}`},
		{"ilert/a/events", `{"eventType":"ALERT","priority":"URGENT"}`},
		{"ilert/a/events", `{"eventType":"ALERT","images":[{}]}`},
		{"ilert/a/events", `{"a.b":"x","eventType":null}`},
		{"ilert/a/events", `not json`},
		{"ilert/a/events", "{\"summary\":\"\xff\"}"},
		{"ilert/a/events", `[]`},
		{"ilert/heartbeats", `{"apiKey":"il1hbt123"}`},
		{"ilert/heartbeats", `{"integrationKey":"a/b"}`},
		{"ilert/heartbeats", `{}`},
		{"ilert/policies", `{"location":"plant","data":{"email":"a@b.c","shift":"1","team":"x"}}`},
		{"ilert/policies", `{"location":"plant","data":{"email":"a@b.c","shift":-4}}`},
		{"ilert/policies", `{"location":"","data":{"email":"","shift":1e30}}`},
		{"other/topic", `{}`},
	} {
		for i := range fuzzConfigs() {
			f.Add(s.topic, []byte(s.payload), uint8(i))
		}
	}
	configs := fuzzConfigs()
	transforms := make([]*mapping.Transform, len(configs))
	for i, c := range configs {
		if err := c.Validate(); err != nil {
			f.Fatalf("config %d: %v", i, err)
		}
		tr, err := mapping.NewTransform(c, adapters.Deps{})
		if err != nil {
			f.Fatal(err)
		}
		transforms[i] = tr
	}
	srv := ilerttest.NewServer(f)
	srv.SetRecord(false)
	sink, err := ilert.New(ilert.Config{APIHost: srv.URL(), HeartbeatHost: srv.URL(), IntegrationKey: "il1api-sink-default"},
		adapters.Deps{Name: "fuzz", Log: slog.New(slog.DiscardHandler), Now: time.Now, Version: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	if err := sink.Connect(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = sink.Close(context.Background()) })

	f.Fuzz(func(t *testing.T, topic string, payload []byte, which uint8) {
		tr := transforms[int(which)%len(transforms)]
		in := &adapters.Event{ID: "fuzz-1", Kind: adapters.KindRaw, Source: "plant", Topic: topic, Payload: payload,
			Attrs: map[string]string{mapping.AttrKafkaKey: "mk"}, Received: time.Unix(1700000000, 0)}
		out, err := tr.Transform(in)
		if err != nil {
			if out != nil {
				t.Fatalf("Transform returned an event with its error %v", err)
			}
			return // refused: skipped on purpose, or dead-lettered as invalid with the reason
		}
		if out == nil {
			t.Fatal("Transform returned neither an event nor an error")
		}
		switch out.Kind {
		case adapters.KindPolicy:
			// The policy calls need seeded users and policies; the payload must be an
			// update the sink accepts, keyed by its routing key.
			upd, err := ilert.DecodePolicyUpdate(out.Payload)
			if err != nil {
				t.Fatalf("policy update %q on %q from %q: %v", out.Payload, topic, payload, err)
			}
			if out.Key != upd.RoutingKey {
				t.Fatalf("policy event key %q, routing key %q", out.Key, upd.RoutingKey)
			}
			return
		case adapters.KindAlert, adapters.KindHeartbeat:
		default:
			t.Fatalf("Transform made an event of kind %q", out.Kind)
		}
		var sendErr error
		for range 3 { // a retryable failure is the loaded machine, not the event
			if sendErr = sink.Send(context.Background(), out); sendErr == nil || adapters.IsPermanent(sendErr) {
				break
			}
		}
		if sendErr != nil {
			t.Fatalf("the ilert API refused the %s event the transform made (permanent %v): %v\n topic %q\n payload %q\n sent %q",
				out.Kind, adapters.IsPermanent(sendErr), sendErr, topic, payload, out.Payload)
		}
	})
}
