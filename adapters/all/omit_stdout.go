//go:build edgerelay_omit_stdout

package all

import "github.com/edgerelay/edgerelay/adapters"

func init() {
	adapters.RegisterOmitted(adapters.DirSink, "stdout", "edgerelay_omit_stdout")
}
