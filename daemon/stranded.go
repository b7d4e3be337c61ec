package daemon

import (
	"fmt"
	"sort"
	"strings"

	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/health"
	"github.com/edgerelay/edgerelay/daemon/pipeline"
)

// strandedCondition is the store's degraded condition while outboxes or dead letters
// of sinks the configuration no longer has wait in the store.
const strandedCondition = "stranded"

// reportStranded finds, once at start, the outboxes and dead-letter buckets that
// belong to no configured sink (a sink renamed or removed while events waited for
// it) and reports each: a WARN line, the degraded condition store/stranded on /ready
// naming them, and an edgerelay_store_stranded gauge per bucket with its count.
// Nothing delivers them until the sink is configured again or `edgerelay queue move`
// hands them to another sink. A reload that adds or removes sinks reports them again
// (restranded).
func (d *Daemon) reportStranded() error { return d.strandedFor(d.cfg.Sinks, false) }

// restranded reports the stranded outboxes after a reload changed the sinks to
// sinks: a sink removed with events queued is stranded now, one configured again is
// not any more (its gauge reads 0, the condition clears when none is left).
func (d *Daemon) restranded(sinks []config.Adapter) {
	if err := d.strandedFor(sinks, true); err != nil {
		d.log.Warn("could not count the stranded outboxes after the reload", "err", err)
	}
}

func (d *Daemon) strandedFor(sinks []config.Adapter, reload bool) error {
	st, err := d.db.Stats()
	if err != nil {
		return fmt.Errorf("read the store's outboxes: %w", err)
	}
	configured := map[string]bool{pipeline.RejectedSink: true}
	for _, s := range sinks {
		configured[s.Name] = true
		if d.stranded[s.Name] {
			d.m.StoreStranded(s.Name, "outbox", 0)
			d.m.StoreStranded(s.Name, "dead", 0)
			delete(d.stranded, s.Name)
		}
	}
	var names, parts []string
	for name := range st.Sinks {
		if !configured[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		s := st.Sinks[name]
		if s.Pending == 0 && s.Dead == 0 {
			continue // empty buckets of an old sink: nothing waits there
		}
		d.log.Warn("the store holds events of a sink that is not configured: nothing delivers them",
			"sink", name, "pending", s.Pending, "dead", s.Dead,
			"fix", fmt.Sprintf("configure sink %q again, or run: edgerelay queue move --from %s --to SINK", name, name))
		d.m.StoreStranded(name, "outbox", s.Pending)
		d.m.StoreStranded(name, "dead", s.Dead)
		if d.stranded == nil {
			d.stranded = map[string]bool{}
		}
		d.stranded[name] = true
		parts = append(parts, fmt.Sprintf("%q: %d queued, %d dead", name, s.Pending, s.Dead))
	}
	if len(parts) > 0 {
		d.health.Set("store", strandedCondition, false, health.Degraded,
			"events of sinks not in the configuration ("+strings.Join(parts, "; ")+
				"); configure them again or move them with edgerelay queue move --from OLD --to NEW")
	} else if reload {
		d.health.Set("store", strandedCondition, true, health.Degraded, "")
	}
	return nil
}
