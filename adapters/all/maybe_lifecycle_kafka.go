//go:build !edgerelay_omit_lifecycle_kafka

package all

import _ "github.com/edgerelay/edgerelay/adapters/lifecycle/kafka" // registers the kafka lifecycle-event publisher
