package ilagent

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Names of what ToYAML configures.
const (
	NameMQTT  = "mqtt"
	NameKafka = "kafka"
	NameProxy = "proxy"
	NameIlert = "ilert"
	// NameEdge is the ilert_edge source of edge mode; its sink is "edge-<mode>".
	NameEdge = "edge"
)

// Environment variables that move the ilert hosts (tests, proxies, regional hosts).
const (
	EnvAPIHost       = "ILERT_API_HOST"
	EnvHeartbeatHost = "ILERT_HEARTBEAT_HOST"
)

// StoreSuffix is appended to -f to name edgerelay's store: the file ilagent's SQLite
// database lives in is never opened, so switching back and forth is safe.
const StoreSuffix = ".edgerelay"

// The document ToYAML writes; field order is the order in the file.
type (
	yDoc struct {
		Log     yLog     `yaml:"log"`
		Store   yStore   `yaml:"store"`
		HTTP    yHTTP    `yaml:"http"`
		Broker  yBroker  `yaml:"broker"`
		Sources []any    `yaml:"sources,omitempty"`
		Sinks   []any    `yaml:"sinks"`
		Routes  []yRoute `yaml:"routes"`
	}
	yLog struct {
		Level string `yaml:"level"`
	}
	yStore struct {
		Path string `yaml:"path"`
	}
	yHTTP struct {
		Listen string `yaml:"listen"`
	}
	yBroker struct {
		Enabled string `yaml:"enabled"`
	}
	yMQTT struct {
		Name         string   `yaml:"name"`
		Type         string   `yaml:"type"`
		URL          string   `yaml:"url"`
		ClientID     string   `yaml:"client_id"`
		Username     string   `yaml:"username,omitempty"`
		Password     string   `yaml:"password,omitempty"`
		Topics       []string `yaml:"topics"`
		QoS          int      `yaml:"qos"`
		CleanSession bool     `yaml:"clean_session"`
		Ack          string   `yaml:"ack"`
		TLS          *yTLS    `yaml:"tls,omitempty"`
	}
	yTLS struct {
		CAFile   string `yaml:"ca_file,omitempty"`
		CertFile string `yaml:"cert_file,omitempty"`
		KeyFile  string `yaml:"key_file,omitempty"`
	}
	yKafka struct {
		Name          string   `yaml:"name"`
		Type          string   `yaml:"type"`
		Brokers       []string `yaml:"brokers"`
		GroupID       string   `yaml:"group_id"`
		Topics        []string `yaml:"topics"`
		InitialOffset string   `yaml:"initial_offset"`
	}
	yProxy struct {
		Name string `yaml:"name"`
		Type string `yaml:"type"`
	}
	yIlert struct {
		Name             string `yaml:"name"`
		Type             string `yaml:"type"`
		APIHost          string `yaml:"api_host,omitempty"`
		HeartbeatHost    string `yaml:"heartbeat_host,omitempty"`
		SelfHeartbeatKey string `yaml:"self_heartbeat_key,omitempty"`
		Retry            yRetry `yaml:"retry"`
	}
	yEdge struct {
		Name            string `yaml:"name"`
		Type            string `yaml:"type"`
		APIHost         string `yaml:"api_host,omitempty"`
		KeyEnv          string `yaml:"key_env"`
		PollInterval    string `yaml:"poll_interval"`
		StandbyInterval string `yaml:"standby_interval"`
		ClusterID       string `yaml:"cluster_id,omitempty"`
		InstanceID      string `yaml:"instance_id,omitempty"`
	}
	yWebhook struct {
		Name         string `yaml:"name"`
		Type         string `yaml:"type"`
		URL          string `yaml:"url"`
		Method       string `yaml:"method"`
		Timeout      string `yaml:"timeout"`
		AuthHeader   string `yaml:"auth_header,omitempty"`
		AuthValue    string `yaml:"auth_value,omitempty"`
		AuthValueEnv string `yaml:"auth_value_env,omitempty"`
		Retry        yRetry `yaml:"retry"`
	}
	yKafkaSink struct {
		Name    string   `yaml:"name"`
		Type    string   `yaml:"type"`
		Brokers []string `yaml:"brokers"`
		Topic   string   `yaml:"topic"`
		Key     string   `yaml:"key"`
		Retry   yRetry   `yaml:"retry"`
	}
	yMQTTSink struct {
		Name     string `yaml:"name"`
		Type     string `yaml:"type"`
		URL      string `yaml:"url"`
		ClientID string `yaml:"client_id"`
		Username string `yaml:"username,omitempty"`
		Password string `yaml:"password,omitempty"`
		Topic    string `yaml:"topic"`
		QoS      int    `yaml:"qos"`
		TLS      *yTLS  `yaml:"tls,omitempty"`
		Retry    yRetry `yaml:"retry"`
	}
	yScript struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Command string `yaml:"command"`
		Retry   yRetry `yaml:"retry"`
	}
	yStdout struct {
		Name   string `yaml:"name"`
		Type   string `yaml:"type"`
		Format string `yaml:"format"`
		Retry  yRetry `yaml:"retry"`
	}
	yRetry struct {
		Initial     string `yaml:"initial"`
		Max         string `yaml:"max"`
		MaxAttempts uint32 `yaml:"max_attempts"`
	}
	yRoute struct {
		Name      string      `yaml:"name"`
		From      []string    `yaml:"from"`
		To        []string    `yaml:"to"`
		Transform *yTransform `yaml:"transform,omitempty"`
	}
	yTransform struct {
		Type                  string   `yaml:"type"`
		Consumer              string   `yaml:"consumer"`
		EventTopic            string   `yaml:"event_topic,omitempty"`
		HeartbeatTopic        string   `yaml:"heartbeat_topic,omitempty"`
		PolicyTopic           string   `yaml:"policy_topic,omitempty"`
		EventKey              string   `yaml:"event_key,omitempty"`
		MapKeyEtype           string   `yaml:"map_key_etype,omitempty"`
		MapKeyAlertKey        string   `yaml:"map_key_alert_key,omitempty"`
		MapKeySummary         string   `yaml:"map_key_summary,omitempty"`
		MapValEtypeAlert      string   `yaml:"map_val_etype_alert,omitempty"`
		MapValEtypeAccept     string   `yaml:"map_val_etype_accept,omitempty"`
		MapValEtypeResolve    string   `yaml:"map_val_etype_resolve,omitempty"`
		FilterKey             string   `yaml:"filter_key,omitempty"`
		FilterVal             string   `yaml:"filter_val,omitempty"`
		ForwardMessagePayload bool     `yaml:"forward_message_payload,omitempty"`
		PolicyRoutingKeys     []string `yaml:"policy_routing_keys,omitempty"`
		MapKeyEmail           string   `yaml:"map_key_email,omitempty"`
		MapKeyShift           string   `yaml:"map_key_shift,omitempty"`
		ShiftOffset           int64    `yaml:"shift_offset,omitempty"`
	}
)

// ToYAML turns a parsed `ilagent daemon` command line into the edgerelay
// configuration that does the same, as a YAML document: `edgerelay daemon` loads it
// like any configuration file, and `edgerelay config from-ilagent` prints it. env
// supplies ILERT_API_HOST and ILERT_HEARTBEAT_HOST.
//
// What it builds: an ilert sink (retry 5s…60s like ilagent's poller, max_attempts =
// --max_retries, self_heartbeat_key = -b); with -m an MQTT source (persistent
// session, ack after delivery unless --mqtt_buffer) and with --kafka_brokers a Kafka
// source (initial offset oldest), each routed to ilert through the ilert transform
// with the consumer flags; with -p the ilert_http source and the HTTP server on
// 0.0.0.0:PORT. The embedded broker is off. Edge mode (--edge_mode) builds the
// configuration edgeYAML describes instead.
func ToYAML(g Global, d *Daemon, env func(string) (string, bool)) ([]byte, error) {
	file := g.File
	if file == "" {
		file = DefaultFile
	}
	doc := yDoc{
		Log:   yLog{Level: strings.ToLower(g.LogLevel().String())},
		Store: yStore{Path: esc(file + StoreSuffix)},
		// ilagent runs no HTTP server without -p: the status endpoints go to a free
		// loopback port, so that nothing (another agent on 8977) can block the start.
		HTTP:   yHTTP{Listen: "127.0.0.1:0"},
		Broker: yBroker{Enabled: "false"},
	}
	sink := yIlert{
		Name: NameIlert, Type: "ilert", SelfHeartbeatKey: esc(d.HeartbeatKey),
		Retry: yRetry{Initial: "5s", Max: "60s", MaxAttempts: d.MaxRetries},
	}
	if v, ok := env(EnvAPIHost); ok && strings.TrimSpace(v) != "" {
		sink.APIHost = esc(strings.TrimSpace(v))
	}
	if v, ok := env(EnvHeartbeatHost); ok && strings.TrimSpace(v) != "" {
		sink.HeartbeatHost = esc(strings.TrimSpace(v))
	}
	if d.MQTTHost == "" && d.KafkaBrokers == "" {
		sink.Retry.MaxAttempts = DefaultMaxRetries // ilagent ignores --max_retries without a consumer
	}
	if d.Edge != nil {
		return edgeYAML(doc, sink, d, env)
	}
	doc.Sinks = []any{sink}

	if d.HTTPEnabled {
		doc.HTTP.Listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(d.HTTPPort))
		doc.Sources = append(doc.Sources, yProxy{Name: NameProxy, Type: "ilert_http"})
		doc.Routes = append(doc.Routes, yRoute{Name: "proxy-to-ilert", From: []string{NameProxy}, To: []string{NameIlert}})
	}
	topics := []string{d.EventTopic, d.HeartbeatTopic, d.PolicyTopic}
	if d.MQTTHost != "" {
		scheme := "tcp"
		if d.MQTTTLS {
			scheme = "ssl"
		}
		m := yMQTT{
			Name: NameMQTT, Type: "mqtt",
			URL:      esc(fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(d.MQTTHost, strconv.Itoa(d.MQTTPort)))),
			ClientID: esc(d.MQTTName), Username: esc(d.MQTTUsername), Password: esc(d.MQTTPassword),
			QoS: d.MQTTQoS, Ack: "delivered",
		}
		if d.MQTTBuffer {
			m.Ack = "stored"
		}
		for _, t := range topics {
			if t == "" {
				continue
			}
			if d.MQTTSharedGroup != "" {
				t = "$share/" + d.MQTTSharedGroup + "/" + t
			}
			m.Topics = append(m.Topics, esc(t))
		}
		if d.MQTTCA != "" || d.MQTTClientCert != "" {
			m.TLS = &yTLS{CAFile: esc(d.MQTTCA), CertFile: esc(d.MQTTClientCert), KeyFile: esc(d.MQTTClientKey)}
		}
		doc.Sources = append(doc.Sources, m)
		doc.Routes = append(doc.Routes, yRoute{Name: "mqtt-to-ilert", From: []string{NameMQTT}, To: []string{NameIlert},
			Transform: transform(d, "mqtt")})
	}
	if d.KafkaBrokers != "" {
		k := yKafka{Name: NameKafka, Type: "kafka", GroupID: esc(d.KafkaGroupID), InitialOffset: "oldest", Brokers: brokers(d.KafkaBrokers)}
		for _, t := range topics {
			if t != "" {
				k.Topics = append(k.Topics, esc(t))
			}
		}
		doc.Sources = append(doc.Sources, k)
		doc.Routes = append(doc.Routes, yRoute{Name: "kafka-to-ilert", From: []string{NameKafka}, To: []string{NameIlert},
			Transform: transform(d, "kafka")})
	}
	if len(doc.Routes) == 0 {
		// Only the self-heartbeat (or nothing): the sink still needs a route.
		doc.Routes = []yRoute{{Name: "unused", From: nil, To: []string{NameIlert}}}
	}
	return render(doc)
}

// render writes doc with the header comment.
func render(doc yDoc) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# Generated from an ilagent command line by edgerelay. Edit and run with\n# `edgerelay run -c <file>`.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render configuration: %w", err)
	}
	return []byte(b.String()), nil
}

// edgeYAML completes doc for ilagent's exclusive edge mode: one ilert_edge source
// (the connector key read from ILERT_EDGE_CONNECTOR_KEY through key_env, never
// written into the file; api_host from ILERT_API_HOST; the intervals; the HA ids),
// one sink for the mode (retried 5 s … 60 s, dead-lettered after DefaultMaxRetries
// attempts) and one route between them. -p serves only the status
// endpoints (/health, /ready, /metrics) on 0.0.0.0:PORT: edge mode runs no event
// proxy. -b adds the ilert sink for the self-heartbeat alone, as ilagent runs its
// heartbeat job in edge mode.
func edgeYAML(doc yDoc, hb yIlert, d *Daemon, env func(string) (string, bool)) ([]byte, error) {
	e := d.Edge
	if d.HTTPEnabled {
		doc.HTTP.Listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(d.HTTPPort))
	}
	src := yEdge{
		Name: NameEdge, Type: "ilert_edge", KeyEnv: EnvEdgeConnectorKey,
		PollInterval:    strconv.Itoa(e.PollInterval) + "s",
		StandbyInterval: strconv.Itoa(e.StandbyInterval) + "s",
		ClusterID:       esc(e.ClusterID), InstanceID: esc(e.InstanceID),
	}
	if v, ok := env(EnvAPIHost); ok && strings.TrimSpace(v) != "" {
		src.APIHost = esc(strings.TrimSpace(v))
	}
	doc.Sources = []any{src}
	sinkName := EdgeSinkName(e.Mode)
	// ilagent retries a failed item every poll interval for ever, so one target that
	// keeps failing blocks the site; here it backs off 5 s … 60 s and, after
	// DefaultMaxRetries attempts (about 1.5 hours), goes to the dead letters
	// (edgerelay queue list --dead; queue retry sends it again).
	retry := yRetry{Initial: "5s", Max: "60s", MaxAttempts: DefaultMaxRetries}
	var sink any
	switch e.Mode {
	case "http":
		w := yWebhook{Name: sinkName, Type: "webhook", URL: esc(e.HTTPURL), Method: e.HTTPMethod,
			Timeout: "30s", Retry: retry} // reqwest's timeout in ilagent's edge client
		if e.HTTPAuthHeader != "" {
			// ilagent sends the auth header only when both the name and a value are given.
			w.AuthHeader = esc(e.HTTPAuthHeader)
			if e.HTTPAuthValueFromEnv {
				w.AuthValueEnv = EnvEdgeHTTPAuthValue
			} else {
				w.AuthValue = esc(e.HTTPAuthValue)
			}
		}
		sink = w
	case "kafka":
		sink = yKafkaSink{Name: sinkName, Type: "kafka", Brokers: brokers(d.KafkaBrokers), Topic: esc(e.Topic), Key: "event", Retry: retry}
	case "mqtt":
		scheme := "tcp"
		if d.MQTTTLS {
			scheme = "ssl"
		}
		m := yMQTTSink{Name: sinkName, Type: "mqtt",
			URL:      esc(fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(d.MQTTHost, strconv.Itoa(d.MQTTPort)))),
			ClientID: esc(d.MQTTName + "-edge"), Username: esc(d.MQTTUsername), Password: esc(d.MQTTPassword),
			Topic: esc(e.Topic), QoS: d.MQTTQoS, Retry: retry,
		}
		if d.MQTTCA != "" || d.MQTTClientCert != "" {
			m.TLS = &yTLS{CAFile: esc(d.MQTTCA), CertFile: esc(d.MQTTClientCert), KeyFile: esc(d.MQTTClientKey)}
		}
		sink = m
	case "script":
		sink = yScript{Name: sinkName, Type: "script", Command: esc(e.Script), Retry: retry}
	default: // stdout
		// The payload alone on one line, as ilagent prints it.
		sink = yStdout{Name: sinkName, Type: "stdout", Format: "payload", Retry: retry}
	}
	doc.Sinks = []any{sink}
	doc.Routes = []yRoute{{Name: "edge-to-" + e.Mode, From: []string{NameEdge}, To: []string{sinkName}}}
	if d.HeartbeatKey != "" {
		doc.Sinks = append(doc.Sinks, hb)
		doc.Routes = append(doc.Routes, yRoute{Name: "self-heartbeat", From: nil, To: []string{NameIlert}})
	}
	return render(doc)
}

// EdgeSinkName is the name of the sink edge mode mode delivers to.
func EdgeSinkName(mode string) string { return "edge-" + mode }

// brokers splits --kafka_brokers on commas, dropping empty names.
func brokers(list string) []string {
	var out []string
	for _, b := range strings.Split(list, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, esc(b))
		}
	}
	return out
}

func transform(d *Daemon, consumer string) *yTransform {
	t := &yTransform{
		Type: "ilert", Consumer: consumer,
		EventTopic: esc(d.EventTopic), HeartbeatTopic: esc(d.HeartbeatTopic), PolicyTopic: esc(d.PolicyTopic),
		EventKey: esc(d.EventKey), MapKeyEtype: esc(d.MapKeyEtype), MapKeyAlertKey: esc(d.MapKeyAlertKey),
		MapKeySummary: esc(d.MapKeySummary), MapValEtypeAlert: esc(d.MapValEtypeAlert),
		MapValEtypeAccept: esc(d.MapValEtypeAccept), MapValEtypeResolve: esc(d.MapValEtypeResolve),
		FilterKey: esc(d.FilterKey), FilterVal: esc(d.FilterVal), ForwardMessagePayload: d.ForwardMessagePayload,
	}
	if d.PolicyTopic != "" {
		for _, k := range d.PolicyRoutingKeys {
			t.PolicyRoutingKeys = append(t.PolicyRoutingKeys, esc(k))
		}
		t.MapKeyEmail, t.MapKeyShift, t.ShiftOffset = esc(d.MapKeyEmail), esc(d.MapKeyShift), d.ShiftOffset
	}
	return t
}

// esc protects a literal value from the loader's ${VAR} interpolation.
func esc(s string) string { return strings.ReplaceAll(s, "${", "$${") }
