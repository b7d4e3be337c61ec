//go:build edgerelay_omit_lifecycle_kafka

package all

import "github.com/edgerelay/edgerelay/adapters/lifecycle"

func init() {
	lifecycle.RegisterOmitted("edgerelay_omit_lifecycle_kafka", "kafka")
}
