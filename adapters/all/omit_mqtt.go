//go:build edgerelay_omit_mqtt

package all

import "github.com/edgerelay/edgerelay/adapters"

func init() {
	adapters.RegisterOmitted(adapters.DirSource, "mqtt", "edgerelay_omit_mqtt")
	adapters.RegisterOmitted(adapters.DirSink, "mqtt", "edgerelay_omit_mqtt")
}
