//go:build !edgerelay_omit_webhook

package all

import _ "github.com/edgerelay/edgerelay/adapters/webhook" // registers the webhook adapter
