//go:build !edgerelay_omit_ilert

package all

import (
	_ "github.com/edgerelay/edgerelay/adapters/ilert"         // registers the ilert sink
	_ "github.com/edgerelay/edgerelay/adapters/ilert/edge"    // registers the ilert_edge source
	_ "github.com/edgerelay/edgerelay/adapters/ilert/ingest"  // registers the ilert_http source
	_ "github.com/edgerelay/edgerelay/adapters/ilert/mapping" // registers the ilert route transform
)
