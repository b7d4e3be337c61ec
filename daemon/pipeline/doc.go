// Package pipeline moves events from sources to sinks through the store. It is the
// heart of edgerelay's delivery guarantee.
//
// # Flow
//
// A source calls Publish. The [Router] picks the sinks; the event becomes one item per
// sink, offered at once to that sink's lane (the deliver-first path) and, in the same
// breath, submitted to the store's group-commit writer. When the commit window closes
// the writer asks each publish job which of its items still need writing: items a sink
// already delivered are skipped, so a healthy sink costs the flash nothing. The
// source's done callback fires as soon as every item is delivered or durably stored —
// whichever comes first — with the event's settlement (Stored, Delivered,
// DeadLettered, Dropped or Refused, merged over the items by adapters.Outcome's
// precedence), and only then may the source acknowledge upstream.
//
// # Lanes
//
// Each sink has a lane: per-ordering-key FIFO queues in memory, a ready list of keys
// whose head is due, a timer heap for keys waiting on a retry, and MaxInFlight worker
// goroutines. A key's head is never sent twice at once and nothing behind it is sent
// before it succeeds or is dead-lettered, so order holds per key across retries while
// different keys proceed in parallel. Attempts and next-attempt times are written back
// to the store, so a restart resumes the backoff where it was.
//
// A lane holds at most MemLimit items in memory. Past that it switches to backlog mode:
// new items go to the store only, and a loader pages them back in sequence order as
// memory frees up. When the loader catches up the lane returns to direct mode. This
// keeps memory flat however long an outage lasts.
//
// # Failure
//
// A commit that fails leaves items unsettled (their sources do not acknowledge) and is
// retried with backoff; Publish blocks once MaxPending events are unsettled, which is
// how a full disk turns into back-pressure instead of loss. Deliveries continue
// meanwhile, and a delivered event is settled without the store. A store at its
// bound (store.DB.HasRoom, store.max_bytes) gives the same back-pressure before the
// disk is full: publish jobs wait in the same ordered retry list, without a failed
// commit, until deliveries free room.
//
// # Bad input
//
// A payload over MaxEventBytes is rejected and, under the dead_letter policy, leaves
// only a truncated record in @rejected (RejectPrefixBytes of the payload, its size in
// TruncatedAttr): never the whole payload, and never delivered (see bounds.go).
//
// # Events
//
// With Options.Events the pipeline publishes, on the daemon's event bus, every event
// received and rejected, every delivery, retry and dead letter (sink, event id, key,
// reason), and each sink connecting or losing its connection. It never publishes while
// it holds a lane's lock: lane.finish notes what to publish under the lock and
// publishes after releasing it.
package pipeline
