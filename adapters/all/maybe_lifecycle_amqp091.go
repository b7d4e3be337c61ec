//go:build !edgerelay_omit_lifecycle_amqp091

package all

import _ "github.com/edgerelay/edgerelay/adapters/lifecycle/amqp091" // registers the amqp091 (rabbitmq) lifecycle adapter
