//go:build !edgerelay_omit_lifecycle_mqtt

package all

import _ "github.com/edgerelay/edgerelay/adapters/lifecycle/mqtt" // registers the mqtt lifecycle adapter
