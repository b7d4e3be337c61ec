//go:build !edgerelay_omit_lifecycle_nats

package all

import _ "github.com/edgerelay/edgerelay/adapters/lifecycle/nats" // registers the nats lifecycle publisher
