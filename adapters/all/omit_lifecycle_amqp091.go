//go:build edgerelay_omit_lifecycle_amqp091

package all

import "github.com/edgerelay/edgerelay/adapters/lifecycle"

func init() {
	lifecycle.RegisterOmitted("edgerelay_omit_lifecycle_amqp091", "amqp091", "rabbitmq")
}
