//go:build !edgerelay_omit_lifecycle_redis

package all

import _ "github.com/edgerelay/edgerelay/adapters/lifecycle/redis" // registers the redis lifecycle publisher
