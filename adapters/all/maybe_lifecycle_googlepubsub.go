//go:build !edgerelay_omit_lifecycle_googlepubsub

package all

import _ "github.com/edgerelay/edgerelay/adapters/lifecycle/googlepubsub" // registers the google_pubsub lifecycle adapter
