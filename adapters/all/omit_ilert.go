//go:build edgerelay_omit_ilert

package all

import "github.com/edgerelay/edgerelay/adapters"

func init() {
	adapters.RegisterOmitted(adapters.DirSink, "ilert", "edgerelay_omit_ilert")
	adapters.RegisterOmitted(adapters.DirSource, "ilert_http", "edgerelay_omit_ilert")
	adapters.RegisterOmitted(adapters.DirSource, "ilert_edge", "edgerelay_omit_ilert")
	adapters.RegisterOmitted(adapters.DirTransform, "ilert", "edgerelay_omit_ilert")
}
