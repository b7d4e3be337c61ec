package mqtt

import "github.com/edgerelay/edgerelay/adapters"

var _ adapters.BrokerSubscriber = (*Config)(nil)

// BrokerSubscription describes the subscription, so that the daemon can serve it from
// its embedded broker in-process when URL points there.
func (c *Config) BrokerSubscription() adapters.BrokerSubscription {
	return adapters.BrokerSubscription{URL: c.URL, Topics: c.Topics, KeyPath: c.KeyPath, Kind: c.Kind}
}
