//go:build edgerelay_omit_kafka

package all

import "github.com/edgerelay/edgerelay/adapters"

func init() {
	adapters.RegisterOmitted(adapters.DirSource, "kafka", "edgerelay_omit_kafka")
	adapters.RegisterOmitted(adapters.DirSink, "kafka", "edgerelay_omit_kafka")
}
