//go:build !edgerelay_omit_mqtt

package all

import _ "github.com/edgerelay/edgerelay/adapters/mqtt" // registers the mqtt adapter
