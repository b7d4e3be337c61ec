package ilert

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// AttrKeyRef is the event attribute that names, by reference, the configured
// integration key an event is sent with: a route transform's event_key. The event's
// body then leaves integrationKey empty, so the key itself is never written to the
// store (it waits there, in the outbox, for as long as ilert cannot be reached); the
// sink puts it back at send time, as it does with its own integration_key.
const AttrKeyRef = "ilert.key_ref"

// keyRefs maps each registered reference to its key. Keys come from the
// configuration only, so the map stays as small as the configuration.
var keyRefs sync.Map // string → string

// RegisterKey records key (from the configuration) as one an event may name by
// reference, and returns the reference to put in [AttrKeyRef]. The key is also
// registered with package secret.
func RegisterKey(key string) string {
	secret.Register(key)
	ref := KeyRef(key)
	keyRefs.Store(ref, key)
	return ref
}

// KeyRef returns the reference of key: "k1:" and 16 hex digits of a SHA-256 of it.
// It identifies the key among those configured without revealing it: integration
// keys are long random tokens, and 64 bits of their hash say nothing usable of them.
func KeyRef(key string) string {
	sum := sha256.Sum256([]byte("edgerelay ilert key ref\x00" + key))
	return "k1:" + hex.EncodeToString(sum[:8])
}

// lookupKey returns the registered key of ref.
func lookupKey(ref string) (string, bool) {
	v, ok := keyRefs.Load(ref)
	if !ok {
		return "", false
	}
	return v.(string), true
}
