//go:build !edgerelay_omit_alerta

package all

import (
	_ "github.com/edgerelay/edgerelay/adapters/alerta/forward"  // registers the alerta sink
	_ "github.com/edgerelay/edgerelay/adapters/alerta/receiver" // registers the alerta source
)
