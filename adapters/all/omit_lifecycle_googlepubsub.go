//go:build edgerelay_omit_lifecycle_googlepubsub

package all

import "github.com/edgerelay/edgerelay/adapters/lifecycle"

func init() {
	lifecycle.RegisterOmitted("edgerelay_omit_lifecycle_googlepubsub", "google_pubsub")
}
