//go:build !edgerelay_omit_kafka

package all

import _ "github.com/edgerelay/edgerelay/adapters/kafka" // registers the kafka adapter
