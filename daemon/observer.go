package daemon

import "github.com/edgerelay/edgerelay/daemon/web"

// observer turns pipeline events into the Prometheus counters of web.Metrics.
type observer struct{ m *web.Metrics }

func (o observer) Published(source string)        { o.m.EventsIn(source).Inc() }
func (o observer) Delivered(sink string)          { o.m.EventsOut(sink).Inc() }
func (o observer) Retried(sink string)            { o.m.Retries(sink).Inc() }
func (o observer) DeadLettered(sink string)       { o.m.DeadLetters(sink).Inc() }
func (o observer) Rejected(source, reason string) { o.m.EventsRejected(source, reason).Inc() }
