//go:build edgerelay_omit_lifecycle_redis

package all

import "github.com/edgerelay/edgerelay/adapters/lifecycle"

func init() { lifecycle.RegisterOmitted("edgerelay_omit_lifecycle_redis", "redis") }
