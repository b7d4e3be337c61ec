package ilagent

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// Defaults of ilagent 0.9.0 (spec §2).
const (
	DefaultFile           = "./ilagent.db3"
	DefaultHTTPPort       = 8977
	DefaultMQTTPort       = 1883
	DefaultMQTTName       = "ilagent"
	DefaultKafkaGroupID   = "ilagent"
	DefaultMapKeyEmail    = "data.email"
	DefaultMapKeyShift    = "data.shift"
	DefaultMaxRetries     = 100
	DefaultEdgeInterval   = 10
	DefaultEdgeHTTPMethod = "POST"
)

// Command names returned in [Command.Name].
const (
	CmdDaemon    = "daemon"
	CmdEvent     = "event"
	CmdHeartbeat = "heartbeat"
	CmdHelp      = "help"
	CmdVersion   = "version"
)

// Environment variables read by [Parse].
const (
	EnvIntegrationKey    = "ILERT_INTEGRATION_KEY"
	EnvAPIKey            = "ILERT_API_KEY"
	EnvEdgeConnectorKey  = "ILERT_EDGE_CONNECTOR_KEY"
	EnvEdgeHTTPAuthValue = "ILERT_EDGE_HTTP_AUTH_VALUE"
)

// UsageError is a command-line or startup-validation error. The caller prints
// Msg on stderr and exits with Code, which is always 2: ilagent's clap errors
// exit 2 and its validation panics exit 101, and edgerelay uses 2 for both.
type UsageError struct {
	// Code is the process exit code, always 2.
	Code int
	// Msg is ilagent's message for the same failure.
	Msg string
}

// Error returns the message.
func (e *UsageError) Error() string { return e.Msg }

func usageErr(format string, a ...any) *UsageError {
	return &UsageError{Code: 2, Msg: fmt.Sprintf(format, a...)}
}

// Global holds the flags valid before or after the subcommand.
type Global struct {
	// Verbose is the count of -v flags: 0–1 warn, 2 info, 3 and more debug.
	Verbose int
	// File is the database path given by -f/--file.
	File string
}

// LogLevel maps Verbose to a slog level the way ilagent maps it to a log
// filter: 0–1 → warn, 2 → info, ≥3 → debug.
func (g Global) LogLevel() slog.Level {
	switch {
	case g.Verbose >= 3:
		return slog.LevelDebug
	case g.Verbose == 2:
		return slog.LevelInfo
	default:
		return slog.LevelWarn
	}
}

// Event holds the flags of the `event` subcommand.
type Event struct {
	// IntegrationKey is -k, else ILERT_INTEGRATION_KEY.
	IntegrationKey string
	// EventType is ALERT, ACCEPT or RESOLVE.
	EventType string
	// Summary is the required summary.
	Summary string
	// AlertKey is -i, the deduplication key.
	AlertKey string
	// Priority is "", LOW or HIGH.
	Priority string
	// Details is -d.
	Details string
	// Image is -g, sent as images: [{"src": url}].
	Image string
	// Link is -l, sent as links: [{"href": url, "text": "Provided Url"}].
	Link string
}

// Heartbeat holds the flags of the `heartbeat` subcommand.
type Heartbeat struct {
	// IntegrationKey is -k, else ILERT_INTEGRATION_KEY.
	IntegrationKey string
}

// Daemon holds the flags of the `daemon` subcommand after validation.
// Consumer fields (topics, mapping, policy, ShiftOffset, MaxRetries) keep
// their defaults unless MQTT or Kafka is configured, as in ilagent.
type Daemon struct {
	// HTTPEnabled is true when -p was given; ilagent's proxy is off otherwise.
	HTTPEnabled bool
	// HTTPPort is -p, default 8977.
	HTTPPort int
	// HeartbeatKey is -b, the self-heartbeat key ("" = off).
	HeartbeatKey string

	// MQTTHost is -m; non-empty turns the MQTT consumer on.
	MQTTHost string
	// MQTTPort is -q, default 1883.
	MQTTPort int
	// MQTTName is -n, the client id, default "ilagent".
	MQTTName string
	// MQTTUsername is --mqtt_username.
	MQTTUsername string
	// MQTTPassword is --mqtt_password, kept only when a username is set.
	MQTTPassword string
	// MQTTTLS is --mqtt_tls.
	MQTTTLS bool
	// MQTTCA is the --mqtt_ca PEM path.
	MQTTCA string
	// MQTTClientCert is the --mqtt_client_cert PEM path.
	MQTTClientCert string
	// MQTTClientKey is the --mqtt_client_key PEM path.
	MQTTClientKey string
	// MQTTQoS is --mqtt_qos, 0–2, default 0.
	MQTTQoS int
	// MQTTBuffer is --mqtt_buffer: store then ack, deliver asynchronously.
	MQTTBuffer bool
	// MQTTSharedGroup is --mqtt_shared_group ($share/<group>/<topic>).
	MQTTSharedGroup string

	// KafkaBrokers is --kafka_brokers; non-empty turns the Kafka consumer on.
	KafkaBrokers string
	// KafkaGroupID is --kafka_group_id, default "ilagent".
	KafkaGroupID string

	// EventTopic is -e.
	EventTopic string
	// HeartbeatTopic is -r.
	HeartbeatTopic string
	// PolicyTopic is --policy_topic.
	PolicyTopic string

	// EventKey is --event_key, overriding the payload's apiKey.
	EventKey string
	// MapKeyEtype is --map_key_etype (dot path).
	MapKeyEtype string
	// MapKeyAlertKey is --map_key_alert_key (dot path).
	MapKeyAlertKey string
	// MapKeySummary is --map_key_summary (dot path).
	MapKeySummary string
	// MapValEtypeAlert is --map_val_etype_alert.
	MapValEtypeAlert string
	// MapValEtypeAccept is --map_val_etype_accept.
	MapValEtypeAccept string
	// MapValEtypeResolve is --map_val_etype_resolve.
	MapValEtypeResolve string
	// FilterKey is --filter_key.
	FilterKey string
	// FilterVal is --filter_val.
	FilterVal string
	// ForwardMessagePayload is --forward_message_payload.
	ForwardMessagePayload bool

	// PolicyRoutingKeys is --policy_routing_keys split on commas, trimmed,
	// empty names removed.
	PolicyRoutingKeys []string
	// MapKeyEmail is --map_key_email, default "data.email".
	MapKeyEmail string
	// MapKeyShift is --map_key_shift, default "data.shift".
	MapKeyShift string
	// ShiftOffset is --shift_offset, default 0.
	ShiftOffset int64
	// MaxRetries is --max_retries, default 100, 0 = unlimited.
	MaxRetries uint32

	// APIKey is ILERT_API_KEY with any "Bearer " prefix stripped, read only
	// when MQTT or Kafka is configured.
	APIKey string

	// Edge is the edge connector configuration, nil unless --edge_mode is set.
	Edge *Edge

	// Warnings are non-fatal findings for the caller to log at warn level.
	Warnings []string
}

// Edge holds the [0.10.x] edge connector flags (spec §2 "daemon edge flags").
type Edge struct {
	// Mode is http, kafka, mqtt, script or stdout.
	Mode string
	// ConnectorKey is ILERT_EDGE_CONNECTOR_KEY (required).
	ConnectorKey string
	// PollInterval is --edge_poll_interval in seconds, 5–120, default 10.
	PollInterval int
	// StandbyInterval is --edge_standby_interval in seconds, 5–120, default 10.
	StandbyInterval int
	// HTTPURL is --edge_http_url, required for mode http.
	HTTPURL string
	// HTTPMethod is POST or PUT (upper-cased), default POST.
	HTTPMethod string
	// HTTPAuthHeader is --edge_http_auth_header.
	HTTPAuthHeader string
	// HTTPAuthValue is --edge_http_auth_value, else ILERT_EDGE_HTTP_AUTH_VALUE.
	HTTPAuthValue string
	// HTTPAuthValueFromEnv is true when HTTPAuthValue came from
	// ILERT_EDGE_HTTP_AUTH_VALUE: the configuration then names the variable
	// (auth_value_env) instead of holding the value.
	HTTPAuthValueFromEnv bool
	// Topic is --edge_topic, required for kafka and mqtt.
	Topic string
	// Script is --edge_script, required for script.
	Script string
	// ClusterID is --edge_cluster_id; non-empty turns HA on.
	ClusterID string
	// InstanceID is --edge_instance_id. ilagent defaults it to
	// "ilagent-<uuidv4>"; Parse leaves it empty and the caller generates it.
	InstanceID string
}

// Command is a parsed ilagent command line.
type Command struct {
	// Name is one of daemon, event, heartbeat, help or version.
	Name string
	// Global holds -v and -f.
	Global Global
	// Daemon is set when Name is daemon.
	Daemon *Daemon
	// Event is set when Name is event.
	Event *Event
	// Heartbeat is set when Name is heartbeat.
	Heartbeat *Heartbeat
	// Usage is the help text when Name is help.
	Usage string
}

var (
	eventTypes  = []string{"ALERT", "ACCEPT", "RESOLVE"}
	priorities  = []string{"LOW", "HIGH"}
	edgeModes   = []string{"http", "kafka", "mqtt", "script", "stdout"}
	integKeyMsg = "Integration key is required: provide --integration_key or set ILERT_INTEGRATION_KEY env var"
	// edgeOnly are the flags that mean something only with --edge_mode.
	edgeOnly = []string{
		"edge_poll_interval", "edge_standby_interval", "edge_http_url", "edge_http_method",
		"edge_http_auth_header", "edge_http_auth_value", "edge_topic", "edge_script",
		"edge_cluster_id", "edge_instance_id",
	}
	edgeRejected = []string{
		"event_topic", "heartbeat_topic", "policy_topic", "policy_routing_keys", "event_key",
		"map_key_etype", "map_key_alert_key", "map_key_summary", "map_val_etype_alert",
		"map_val_etype_accept", "map_val_etype_resolve", "filter_key", "filter_val",
		"mqtt_shared_group", "map_key_email", "map_key_shift", "shift_offset", "max_retries",
		"forward_message_payload", "mqtt_buffer",
	}
)

// rawDaemon holds the daemon flags as typed on the command line; numbers
// stay strings so that Parse can report ilagent's messages.
type rawDaemon struct {
	port, heartbeat, mqttHost, mqttPort, mqttName, mqttUser, mqttPass string
	mqttCA, mqttCert, mqttKey, mqttQoS, mqttShared                    string
	mqttTLS, mqttBuffer, forward                                      bool
	kafkaBrokers, kafkaGroup                                          string
	eventTopic, hbTopic, policyTopic                                  string
	eventKey, mkEtype, mkAlertKey, mkSummary, mvAlert, mvAccept       string
	mvResolve, filterKey, filterVal                                   string
	routingKeys, mkEmail, mkShift, shiftOffset, maxRetries            string
	edgeMode, edgePoll, edgeStandby, edgeURL, edgeMethod              string
	edgeAuthHeader, edgeAuthValue, edgeTopic, edgeScript              string
	edgeCluster, edgeInstance                                         string
}

func newSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	return fs
}

func addGlobals(fs *pflag.FlagSet, g *Global, help, version *bool) {
	fs.CountVarP(&g.Verbose, "verbose", "v", "more output: -vv info, -vvv debug (default warn)")
	fs.StringVarP(&g.File, "file", "f", DefaultFile, "database path")
	fs.BoolVarP(help, "help", "h", false, "print help")
	fs.BoolVarP(version, "version", "V", false, "print version")
}

func addEvent(fs *pflag.FlagSet, e *Event) {
	fs.StringVarP(&e.IntegrationKey, "integration_key", "k", "", "integration key (env "+EnvIntegrationKey+")")
	fs.StringVarP(&e.EventType, "event_type", "t", "", "ALERT, ACCEPT or RESOLVE (required)")
	fs.StringVarP(&e.Summary, "summary", "s", "", "summary (required)")
	fs.StringVarP(&e.AlertKey, "alert_key", "i", "", "alert key")
	fs.StringVarP(&e.Priority, "priority", "o", "", "LOW or HIGH")
	fs.StringVarP(&e.Details, "details", "d", "", "details")
	fs.StringVarP(&e.Image, "image", "g", "", "image URL")
	fs.StringVarP(&e.Link, "link", "l", "", "link URL")
}

func addDaemon(fs *pflag.FlagSet, r *rawDaemon) {
	s := fs.StringVar
	sp := fs.StringVarP
	sp(&r.port, "port", "p", strconv.Itoa(DefaultHTTPPort), "start the HTTP server on this port")
	sp(&r.heartbeat, "heartbeat", "b", "", "self-heartbeat integration key")
	sp(&r.mqttHost, "mqtt_host", "m", "", "MQTT broker host (turns MQTT on)")
	sp(&r.mqttPort, "mqtt_port", "q", strconv.Itoa(DefaultMQTTPort), "MQTT broker port")
	sp(&r.mqttName, "mqtt_name", "n", DefaultMQTTName, "MQTT client id")
	s(&r.mqttUser, "mqtt_username", "", "MQTT username")
	s(&r.mqttPass, "mqtt_password", "", "MQTT password")
	fs.BoolVar(&r.mqttTLS, "mqtt_tls", false, "use TLS")
	s(&r.mqttCA, "mqtt_ca", "", "CA PEM path")
	s(&r.mqttCert, "mqtt_client_cert", "", "client certificate PEM path")
	s(&r.mqttKey, "mqtt_client_key", "", "client key PEM path")
	s(&r.mqttQoS, "mqtt_qos", "0", "MQTT QoS 0, 1 or 2")
	fs.BoolVar(&r.mqttBuffer, "mqtt_buffer", false, "buffer MQTT messages in the store")
	s(&r.mqttShared, "mqtt_shared_group", "", "MQTT shared subscription group")
	s(&r.kafkaBrokers, "kafka_brokers", "", "Kafka brokers (turns Kafka on)")
	s(&r.kafkaGroup, "kafka_group_id", DefaultKafkaGroupID, "Kafka consumer group")
	sp(&r.eventTopic, "event_topic", "e", "", "event topic")
	sp(&r.hbTopic, "heartbeat_topic", "r", "", "heartbeat topic")
	s(&r.policyTopic, "policy_topic", "", "escalation policy topic")
	s(&r.eventKey, "event_key", "", "static integration key for consumed events")
	s(&r.mkEtype, "map_key_etype", "", "dot path of the event type")
	s(&r.mkAlertKey, "map_key_alert_key", "", "dot path of the alert key")
	s(&r.mkSummary, "map_key_summary", "", "dot path of the summary")
	s(&r.mvAlert, "map_val_etype_alert", "", "value meaning ALERT")
	s(&r.mvAccept, "map_val_etype_accept", "", "value meaning ACCEPT")
	s(&r.mvResolve, "map_val_etype_resolve", "", "value meaning RESOLVE")
	s(&r.filterKey, "filter_key", "", "only accept payloads with this key")
	s(&r.filterVal, "filter_val", "", "... with this value")
	fs.BoolVar(&r.forward, "forward_message_payload", false, "forward the payload as customDetails")
	s(&r.routingKeys, "policy_routing_keys", "", "comma-separated routing key fields")
	s(&r.mkEmail, "map_key_email", DefaultMapKeyEmail, "dot path of the user email")
	s(&r.mkShift, "map_key_shift", DefaultMapKeyShift, "dot path of the shift")
	s(&r.shiftOffset, "shift_offset", "0", "added to the shift")
	s(&r.maxRetries, "max_retries", strconv.Itoa(DefaultMaxRetries), "attempts before a queued item is dropped (0 = unlimited)")
	s(&r.edgeMode, "edge_mode", "", "edge connector mode: http, kafka, mqtt, script or stdout")
	s(&r.edgePoll, "edge_poll_interval", strconv.Itoa(DefaultEdgeInterval), "edge poll interval in seconds (5-120)")
	s(&r.edgeStandby, "edge_standby_interval", strconv.Itoa(DefaultEdgeInterval), "edge standby interval in seconds (5-120)")
	s(&r.edgeURL, "edge_http_url", "", "edge http target URL")
	s(&r.edgeMethod, "edge_http_method", "", "edge http method POST or PUT (default POST)")
	s(&r.edgeAuthHeader, "edge_http_auth_header", "", "edge http auth header name")
	s(&r.edgeAuthValue, "edge_http_auth_value", "", "edge http auth header value (env "+EnvEdgeHTTPAuthValue+")")
	s(&r.edgeTopic, "edge_topic", "", "edge kafka/mqtt topic")
	s(&r.edgeScript, "edge_script", "", "edge script path")
	s(&r.edgeCluster, "edge_cluster_id", "", "edge HA cluster id")
	s(&r.edgeInstance, "edge_instance_id", "", "edge HA instance id (default ilagent-<uuid>)")
}

// DaemonUsage lists the flags of the daemon subcommand, for help output.
func DaemonUsage() string {
	var g Global
	var h, v bool
	var r rawDaemon
	fs := newSet("daemon")
	addGlobals(fs, &g, &h, &v)
	addDaemon(fs, &r)
	return fs.FlagUsages()
}

// Usage returns the top-level help text.
func Usage() string {
	var g Global
	var h, v bool
	fs := newSet("ilagent")
	addGlobals(fs, &g, &h, &v)
	return "Bridge your infrastructure to ilert.\n\nUsage: ilagent [OPTIONS] <COMMAND>\n\n" +
		"Commands:\n  daemon     run the daemon\n  event      send one event\n  heartbeat  send one heartbeat\n\n" +
		"Options:\n" + fs.FlagUsages()
}

// Parse parses args (without the program name). env looks up environment
// variables (os.LookupEnv in production). It returns the command, or a
// *UsageError whose message is ilagent's and whose Code is 2.
func Parse(args []string, env func(string) (string, bool)) (*Command, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	if len(args) == 0 {
		return nil, &UsageError{Code: 2, Msg: Usage()}
	}
	cmd := &Command{}
	var help, version bool
	var (
		ev  Event
		hb  Heartbeat
		raw rawDaemon
	)
	// Every flag set is built before any parsing: defining a flag resets
	// its variable to the default, and the global flags are shared.
	top := newSet("ilagent")
	top.SetInterspersed(false)
	addGlobals(top, &cmd.Global, &help, &version)
	subs := map[string]*pflag.FlagSet{}
	for _, name := range []string{CmdDaemon, CmdEvent, CmdHeartbeat} {
		fs := newSet(name)
		addGlobals(fs, &cmd.Global, &help, &version)
		subs[name] = fs
	}
	addEvent(subs[CmdEvent], &ev)
	subs[CmdHeartbeat].StringVarP(&hb.IntegrationKey, "integration_key", "k", "", "integration key (env "+EnvIntegrationKey+")")
	addDaemon(subs[CmdDaemon], &raw)

	if err := top.Parse(args); err != nil {
		return nil, usageErr("%s", err)
	}
	if help {
		return &Command{Name: CmdHelp, Global: cmd.Global, Usage: Usage()}, nil
	}
	if version {
		return &Command{Name: CmdVersion, Global: cmd.Global}, nil
	}
	rest := top.Args()
	if len(rest) == 0 {
		return nil, &UsageError{Code: 2, Msg: Usage()}
	}
	name := rest[0]
	fs, ok := subs[name]
	if !ok {
		return nil, usageErr("unrecognized subcommand '%s'", name)
	}
	if err := fs.Parse(rest[1:]); err != nil {
		return nil, usageErr("%s", err)
	}
	if help {
		return &Command{Name: CmdHelp, Global: cmd.Global,
			Usage: "Usage: ilagent " + name + " [OPTIONS]\n\nOptions:\n" + fs.FlagUsages()}, nil
	}
	if version {
		return &Command{Name: CmdVersion, Global: cmd.Global}, nil
	}
	if fs.NArg() > 0 {
		return nil, usageErr("unexpected argument '%s' found", fs.Arg(0))
	}
	cmd.Name = name
	switch name {
	case CmdEvent:
		if err := checkEvent(fs, &ev, env); err != nil {
			return nil, err
		}
		cmd.Event = &ev
	case CmdHeartbeat:
		if hb.IntegrationKey == "" {
			hb.IntegrationKey, _ = env(EnvIntegrationKey)
		}
		if hb.IntegrationKey == "" {
			return nil, usageErr("%s", integKeyMsg)
		}
		cmd.Heartbeat = &hb
	case CmdDaemon:
		d, err := buildDaemon(fs, &raw, env)
		if err != nil {
			return nil, err
		}
		cmd.Daemon = d
	}
	return cmd, nil
}

func checkEvent(fs *pflag.FlagSet, ev *Event, env func(string) (string, bool)) error {
	// clap checks required arguments and enums before ilagent's own code runs.
	var missing []string
	if !fs.Changed("event_type") {
		missing = append(missing, "--event_type <EVENT_TYPE>")
	}
	if !fs.Changed("summary") {
		missing = append(missing, "--summary <SUMMARY>")
	}
	if len(missing) > 0 {
		return usageErr("the following required arguments were not provided:\n  %s", strings.Join(missing, "\n  "))
	}
	if err := oneOf(ev.EventType, "--event_type <EVENT_TYPE>", eventTypes); err != nil {
		return err
	}
	if fs.Changed("priority") {
		if err := oneOf(ev.Priority, "--priority <PRIORITY>", priorities); err != nil {
			return err
		}
	}
	if ev.IntegrationKey == "" {
		ev.IntegrationKey, _ = env(EnvIntegrationKey)
	}
	if ev.IntegrationKey == "" {
		return usageErr("%s", integKeyMsg)
	}
	return nil
}

// oneOf reproduces clap's "invalid value" error for an enum argument.
func oneOf(v, arg string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return usageErr("invalid value '%s' for '%s'\n  [possible values: %s]", v, arg, strings.Join(allowed, ", "))
}

func buildDaemon(fs *pflag.FlagSet, r *rawDaemon, env func(string) (string, bool)) (*Daemon, error) {
	d := &Daemon{
		HTTPPort:     DefaultHTTPPort,
		MQTTPort:     DefaultMQTTPort,
		MQTTName:     DefaultMQTTName,
		KafkaGroupID: DefaultKafkaGroupID,
		MapKeyEmail:  DefaultMapKeyEmail,
		MapKeyShift:  DefaultMapKeyShift,
		MaxRetries:   DefaultMaxRetries,
	}
	if fs.Changed("edge_mode") {
		// clap rejects an unknown enum value before any other check.
		if err := oneOf(r.edgeMode, "--edge_mode <EDGE_MODE>", edgeModes); err != nil {
			return nil, err
		}
		return d, buildEdge(fs, r, d, env)
	}
	if err := common(fs, r, d); err != nil {
		return nil, err
	}
	mqttOn, kafkaOn := r.mqttHost != "", r.kafkaBrokers != ""
	if mqttOn {
		if err := mqttConn(fs, r, d); err != nil {
			return nil, err
		}
	}
	if kafkaOn {
		d.KafkaBrokers, d.KafkaGroupID = r.kafkaBrokers, r.kafkaGroup
	}
	var edgeIgnored []string
	for _, n := range edgeOnly {
		if fs.Changed(n) {
			edgeIgnored = append(edgeIgnored, "--"+n)
		}
	}
	if len(edgeIgnored) > 0 {
		// ilagent ignores them silently; a forgotten --edge_mode is worth a word.
		d.Warnings = append(d.Warnings, fmt.Sprintf("ignored without --edge_mode: %s", strings.Join(edgeIgnored, ", ")))
	}
	if !mqttOn && !kafkaOn {
		var ignored []string
		for _, n := range edgeRejected {
			if fs.Changed(n) {
				ignored = append(ignored, "--"+n)
			}
		}
		if len(ignored) > 0 {
			d.Warnings = append(d.Warnings, fmt.Sprintf("ignored without --mqtt_host or --kafka_brokers: %s", strings.Join(ignored, ", ")))
		}
		return d, nil
	}
	// Consumer flags apply to both consumers.
	d.EventTopic, d.HeartbeatTopic, d.PolicyTopic = r.eventTopic, r.hbTopic, r.policyTopic
	d.EventKey, d.MapKeyEtype, d.MapKeyAlertKey, d.MapKeySummary = r.eventKey, r.mkEtype, r.mkAlertKey, r.mkSummary
	d.MapValEtypeAlert, d.MapValEtypeAccept, d.MapValEtypeResolve = r.mvAlert, r.mvAccept, r.mvResolve
	d.FilterKey, d.FilterVal, d.ForwardMessagePayload = r.filterKey, r.filterVal, r.forward
	d.MQTTBuffer = r.mqttBuffer && mqttOn
	if mqttOn {
		d.MQTTSharedGroup = r.mqttShared
	}
	d.PolicyRoutingKeys = splitKeys(r.routingKeys)
	d.MapKeyEmail, d.MapKeyShift = r.mkEmail, r.mkShift
	off, err := strconv.ParseInt(r.shiftOffset, 10, 64)
	if err != nil {
		return nil, usageErr("Failed to parse shift_offset")
	}
	d.ShiftOffset = off
	mr, err := strconv.ParseUint(r.maxRetries, 10, 32)
	if err != nil {
		return nil, usageErr("Failed to parse max_retries")
	}
	d.MaxRetries = uint32(mr)

	noTopic := d.EventTopic == "" && d.HeartbeatTopic == "" && d.PolicyTopic == ""
	if mqttOn {
		if noTopic {
			return nil, usageErr("At least one MQTT topic must be configured: --event_topic, --heartbeat_topic, or --policy_topic")
		}
		if !d.MQTTBuffer && d.MQTTQoS == 0 {
			return nil, usageErr("MQTT non-buffered mode requires --mqtt_qos 1 or --mqtt_qos 2 because QoS 0 has no broker acknowledgement and events would be lost on ilert failures. Use --mqtt_buffer if you need to accept QoS 0 messages.")
		}
	}
	if kafkaOn && noTopic {
		return nil, usageErr("At least one Kafka topic must be configured: --event_topic, --heartbeat_topic, or --policy_topic")
	}

	if v, ok := env(EnvAPIKey); ok && v != "" {
		for _, p := range []string{"Bearer ", "bearer "} {
			if strings.HasPrefix(v, p) {
				v = strings.TrimPrefix(v, p)
				d.Warnings = append(d.Warnings, EnvAPIKey+" should not include the 'Bearer ' prefix, stripping it")
				break
			}
		}
		d.APIKey = v
	}
	// Not validated by ilagent (spec §2, §11.17); issue 3 item 7 asks for it.
	if d.PolicyTopic != "" {
		if len(d.PolicyRoutingKeys) == 0 {
			return nil, usageErr("--policy_routing_keys is required when --policy_topic is set")
		}
		if d.APIKey == "" {
			return nil, usageErr("ILERT_API_KEY env var is required when --policy_topic is set")
		}
	}
	return d, nil
}

// common handles the flags shared by normal and edge mode: -p and -b.
func common(fs *pflag.FlagSet, r *rawDaemon, d *Daemon) error {
	if fs.Changed("port") {
		p, err := parsePort(r.port)
		if err != nil {
			return usageErr("Failed to parse http port")
		}
		d.HTTPEnabled, d.HTTPPort = true, p
	}
	d.HeartbeatKey = r.heartbeat
	return nil
}

// mqttConn fills the MQTT connection fields and checks them.
func mqttConn(fs *pflag.FlagSet, r *rawDaemon, d *Daemon) error {
	d.MQTTHost = r.mqttHost
	p, err := parsePort(r.mqttPort)
	if err != nil {
		// ilagent says "http port" here (§11.17); edgerelay names the flag.
		return usageErr("Failed to parse mqtt port")
	}
	d.MQTTPort = p
	d.MQTTName = r.mqttName
	d.MQTTTLS, d.MQTTCA, d.MQTTClientCert, d.MQTTClientKey = r.mqttTLS, r.mqttCA, r.mqttCert, r.mqttKey
	q, err := strconv.ParseUint(r.mqttQoS, 10, 8)
	if err != nil || q > 2 {
		return usageErr("mqtt_qos must be 0, 1, or 2")
	}
	d.MQTTQoS = int(q)
	if r.mqttUser != "" {
		if r.mqttPass == "" {
			// ilagent panics when it connects; edgerelay says so at startup.
			return usageErr("--mqtt_password is required when --mqtt_username is set")
		}
		d.MQTTUsername, d.MQTTPassword = r.mqttUser, r.mqttPass
	} else if fs.Changed("mqtt_password") {
		d.Warnings = append(d.Warnings, "--mqtt_password is ignored without --mqtt_username")
	}
	if (d.MQTTClientCert == "") != (d.MQTTClientKey == "") {
		// ilagent silently ignores a lone cert or key (§11.10).
		return usageErr("--mqtt_client_cert and --mqtt_client_key must be given together")
	}
	return nil
}

func buildEdge(fs *pflag.FlagSet, r *rawDaemon, d *Daemon, env func(string) (string, bool)) error {
	e := &Edge{Mode: r.edgeMode, HTTPMethod: DefaultEdgeHTTPMethod}
	// (1) the connector key.
	e.ConnectorKey, _ = env(EnvEdgeConnectorKey)
	if e.ConnectorKey == "" {
		return usageErr("ILERT_EDGE_CONNECTOR_KEY env var is required for edge connector mode")
	}
	// (2) rejected flags.
	for _, n := range edgeRejected {
		if fs.Changed(n) {
			return usageErr("--%s cannot be used with --edge_mode (edge connector is an exclusive daemon mode)", n)
		}
	}
	// (3) port, heartbeat, intervals.
	// kafka_group_id is accepted and ignored, as by ilagent: the edge kafka mode
	// produces and joins no group.
	if err := common(fs, r, d); err != nil {
		return err
	}
	var err error
	if e.PollInterval, err = interval(r.edgePoll, "edge_poll_interval"); err != nil {
		return err
	}
	if e.StandbyInterval, err = interval(r.edgeStandby, "edge_standby_interval"); err != nil {
		return err
	}
	// (4) per-mode fields.
	e.HTTPURL, e.HTTPAuthHeader, e.Topic, e.Script = r.edgeURL, r.edgeAuthHeader, r.edgeTopic, r.edgeScript
	e.ClusterID, e.InstanceID = r.edgeCluster, r.edgeInstance
	e.HTTPAuthValue = r.edgeAuthValue
	if e.HTTPAuthValue == "" {
		e.HTTPAuthValue, _ = env(EnvEdgeHTTPAuthValue)
		e.HTTPAuthValueFromEnv = e.HTTPAuthValue != ""
	}
	if e.HTTPAuthHeader != "" && e.HTTPAuthValue == "" {
		return usageErr("--edge_http_auth_header requires an auth value via --edge_http_auth_value or ILERT_EDGE_HTTP_AUTH_VALUE env var")
	}
	if e.HTTPAuthHeader == "" && fs.Changed("edge_http_auth_value") {
		d.Warnings = append(d.Warnings, "--edge_http_auth_value is ignored without --edge_http_auth_header")
	}
	if fs.Changed("edge_http_method") {
		m := strings.ToUpper(r.edgeMethod)
		if m != "POST" && m != "PUT" {
			// ilagent finds this per delivery (§11.21); edgerelay at startup.
			return usageErr("--edge_http_method must be POST or PUT")
		}
		e.HTTPMethod = m
	}
	// (5) mode validation.
	switch e.Mode {
	case "http":
		if e.HTTPURL == "" {
			return usageErr("--edge_http_url is required when edge_mode is 'http'")
		}
	case "kafka":
		if r.kafkaBrokers == "" {
			return usageErr("--kafka_brokers is required when edge_mode is 'kafka'")
		}
		if e.Topic == "" {
			return usageErr("--edge_topic is required when edge_mode is 'kafka'")
		}
		d.KafkaBrokers = r.kafkaBrokers
	case "mqtt":
		if r.mqttHost == "" {
			return usageErr("--mqtt_host is required when edge_mode is 'mqtt'")
		}
		if e.Topic == "" {
			return usageErr("--edge_topic is required when edge_mode is 'mqtt'")
		}
		if err := mqttConn(fs, r, d); err != nil {
			return err
		}
		switch {
		case !fs.Changed("mqtt_qos"):
			// ilagent's default, QoS 0, moves the cursor once the publish is queued
			// locally: a broker restart loses the items. Without an explicit
			// --mqtt_qos the sink publishes at QoS 1 and counts an item delivered on
			// its PUBACK.
			d.MQTTQoS = 1
		case d.MQTTQoS == 0:
			d.Warnings = append(d.Warnings, "edge mqtt delivery with QoS 0 has no broker acknowledgement")
		}
	case "script":
		if e.Script == "" {
			return usageErr("--edge_script is required when edge_mode is 'script'")
		}
	}
	d.Edge = e
	return nil
}

func interval(s, name string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < 5 || n > 120 {
		return 0, usageErr("--%s must be between 5 and 120 seconds", name)
	}
	return int(n), nil
}

// parsePort accepts 1–65535. ilagent parses -p as i32 and -q as u16.
func parsePort(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("parse port %q: invalid", s)
	}
	return int(n), nil
}

func splitKeys(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}
