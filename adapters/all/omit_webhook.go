//go:build edgerelay_omit_webhook

package all

import "github.com/edgerelay/edgerelay/adapters"

func init() {
	adapters.RegisterOmitted(adapters.DirSink, "webhook", "edgerelay_omit_webhook")
}
