//go:build edgerelay_omit_alerta

package all

import "github.com/edgerelay/edgerelay/adapters"

func init() {
	adapters.RegisterOmitted(adapters.DirSource, "alerta", "edgerelay_omit_alerta")
	adapters.RegisterOmitted(adapters.DirSink, "alerta", "edgerelay_omit_alerta")
}
