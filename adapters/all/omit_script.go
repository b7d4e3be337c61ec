//go:build edgerelay_omit_script

package all

import "github.com/edgerelay/edgerelay/adapters"

func init() {
	adapters.RegisterOmitted(adapters.DirSink, "script", "edgerelay_omit_script")
}
