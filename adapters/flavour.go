package adapters

import (
	"fmt"
	"slices"
)

// The hooks in this file let the daemon and the command line work with whatever
// adapters a build links, without importing any of them: a build flavour (-tags
// edgerelay_omit_<name>, see package adapters/all) drops an adapter and everything only
// it imports.

// BrokerSubscriber is implemented by the config of a source that subscribes to an
// MQTT broker. When BrokerSubscription's URL points at the daemon's embedded broker,
// the daemon does not build the source: the broker serves the subscription
// in-process instead, acknowledging publishers only once their events are safe.
type BrokerSubscriber interface {
	BrokerSubscription() BrokerSubscription
}

// BrokerSubscription is what the embedded broker needs to serve a source in-process.
type BrokerSubscription struct {
	// URL is the broker the source would connect to, as configured ("embedded" names
	// the embedded broker whatever its address).
	URL string
	// Topics are the topic filters; a "$share/<group>/" prefix is allowed.
	Topics []string
	// KeyPath is the gjson path of the ordering key in a JSON payload; empty means
	// the topic.
	KeyPath string
	// Kind is the kind of every event; empty means [KindRaw].
	Kind string
}

// omitted maps direction+"/"+type to the build tag that left the adapter out.
var omitted = map[string]string{}

// RegisterOmitted records that this binary was built without the adapter dir/typ
// because of build tag tag. Package adapters/all calls it from init for each omit tag
// given, so that a configuration naming the adapter is told why it is missing.
func RegisterOmitted(dir Direction, typ, tag string) {
	regMu.Lock()
	defer regMu.Unlock()
	omitted[string(dir)+"/"+typ] = tag
}

// Omitted returns the build tag that left the adapter dir/typ out of this binary.
func Omitted(dir Direction, typ string) (tag string, ok bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	tag, ok = omitted[string(dir)+"/"+typ]
	return tag, ok
}

// OmitTags returns the omit build tags this binary was built with, sorted.
func OmitTags() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for _, tag := range omitted {
		if !slices.Contains(out, tag) {
			out = append(out, tag)
		}
	}
	slices.Sort(out)
	return out
}

// NotBuiltIn returns the error for a configuration or command that needs the
// adapter dir/typ when this binary was built without it, or nil when the adapter is
// not one that a build tag left out.
func NotBuiltIn(dir Direction, typ string) error {
	tag, ok := Omitted(dir, typ)
	if !ok {
		return nil
	}
	return fmt.Errorf("this edgerelay was built without the %s %s (build tag %s); use a build that includes it", typ, dir, tag)
}
