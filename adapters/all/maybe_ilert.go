//go:build !edgerelay_omit_ilert

package all

import _ "github.com/edgerelay/edgerelay/adapters/ilert" // registers the ilert adapter
