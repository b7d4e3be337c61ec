// Package mqtt is the mqtt lifecycle-event adapter (EVENT_BROKER_ADAPTER=mqtt): it
// publishes each CloudEvents document to topic type-with-slashes
// (edge/node/started) over MQTT 3.1.1 with the configured QoS, retain off. It
// speaks the few packets a publisher needs itself (CONNECT, PUBLISH and its
// acknowledgements, PINGREQ, DISCONNECT) on the standard library; see README.md.
package mqtt

import "github.com/edgerelay/edgerelay/adapters/lifecycle"

func init() {
	lifecycle.Register(lifecycle.Spec{
		Name:      "mqtt",
		Variables: Variables,
		NewConfig: func() lifecycle.Config { return NewConfig() },
	})
}
