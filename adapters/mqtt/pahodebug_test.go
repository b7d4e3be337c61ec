package mqtt

import (
	"log"
	"os"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// PAHO_DEBUG=1 go test -run X -v ./adapters/mqtt/ prints paho's packet trace, the
// quickest way to see which PUBACK went where.
func init() {
	if os.Getenv("PAHO_DEBUG") != "" {
		paho.DEBUG = log.New(os.Stderr, "[paho] ", log.Lmicroseconds)
		paho.ERROR = log.New(os.Stderr, "[paho-err] ", log.Lmicroseconds)
	}
}
