// Package store is edgerelay's durable queue: one bbolt file holding an outbox per
// sink, the dead letters, named cursors and a schema version.
//
// The store knows nothing of adapters. An event is an opaque []byte (the daemon
// encodes it with adapters.Event.MarshalBinary); the store keeps it with the little
// that delivery needs: an ordering key, when it was enqueued, how many attempts
// failed, when the next one is due and why the last one failed.
//
// # The outbox model
//
// The router turns one accepted event into one [Entry] per sink it is routed to, and
// [Batch.Put] appends each to that sink's outbox. An outbox is FIFO: entries are
// keyed by a per-sink sequence number ([Entry.Seq]) taken from the bucket's own
// counter, so a cursor walks them in arrival order and a number is never reused, not
// even after [DB.Drop]. The delivery engine reads an outbox with [DB.Scan] at start,
// then keeps the state in memory and writes only changes: [Batch.Delete] when an
// entry is delivered, [Batch.Update] when an attempt failed (attempts, next attempt
// and last error survive a restart, so a restart does not reset the backoff),
// [Batch.DeadLetter] when the sink says the failure is permanent. Dead letters wait
// in a bucket of their own per sink until an operator replays them ([DB.Retry], back
// to the end of the outbox, due now) or drops them.
//
// Cursors ([Batch.SetCursor], [DB.Cursor], [DB.Cursors]) are small named values,
// opaque names and bytes within [MaxCursorName] and [MaxCursorValue]. A cursor may
// move in the same batch as the events it accounts for. The daemon keeps the sources'
// persisted state there (its package daemon/state, names source/<instance>/<name>),
// committed through the [Writer] like everything else; the store does not interpret
// the names.
//
// The file layout:
//
//	meta/schema          uint64 big-endian, currently 1
//	outbox/<sink>/<seq>  record      seq: 8 bytes big-endian
//	dead/<sink>/<seq>    record with reason and time
//	cursors/<name>       value       source state: source/<instance>/<name>
//
// A record is a version byte, a byte of flags saying which optional fields follow,
// varints for times (milliseconds) and counts, length-prefixed strings, and the event
// bytes as-is at the end. A fresh entry costs about ten bytes plus its key and data.
//
// # Group commit and write avoidance
//
// Every transaction costs two fsyncs (data pages, then the meta page) and rewrites
// at least a leaf page, its branch pages and the meta page, whatever its size. So
// writes go through one [Writer]: sources [Writer.Submit] a [Job] and wait for its
// Done; the writer's single goroutine collects jobs for a short window (2ms) or until
// a batch is full, asks each job to [Job.Prepare] its operations into one [Batch],
// commits once, and calls every Done with the outcome. Many events share one fsync,
// and the cost per event falls as the load rises; Submit blocks when the queue is
// full, which pushes back on the sources.
//
// Prepare runs at flush time, not at submit time. That is the write-avoidance fast
// path: a sink that delivered an event while it waited for the window has nothing
// left to store, its job adds no operation, and a batch that ends up empty costs no
// transaction at all (Done(nil) still reports that the event is safe). A healthy
// upstream costs the flash almost nothing per event; an outage fills the outboxes,
// and they drain when the sink returns. [DB.Counters] reports commits and an estimate
// of the bytes written, the figure to watch for flash wear.
//
// Source state costs differently: events that were delivered need no write, but a
// cursor that moved does. An unchanged value costs nothing (the daemon submits no job,
// or a job that adds nothing, for a value set to what the store holds). A changed
// value costs one small transaction per commit window, however often it changed in
// it, even when every event was delivered without touching the flash: the pages on
// the path to it plus the meta page, that is 8 KiB (two 4 KiB pages) while the state
// is small, 12 to 16 KiB once there are hundreds of values, up to 24 KiB for a value
// of a few KiB (overflow pages), and two fsyncs. A cursor that moves on every poll
// thus writes once per poll, or once per commit window when polls come faster: every
// 10 s that is about 70 MB a day, while a cursor set on every event of a busy source
// would cost up to one transaction per window (200 a second at 5 ms). Sources keep
// it low by setting state when a position must survive (once a poll's events are
// safe, not per event) and keeping values to tens of bytes. While events are being
// written anyway (a failing sink), the state joins their transaction and adds at
// most the pages of its own values.
//
// A failed commit applies nothing; its jobs get the error, the submitters decide
// (the daemon resubmits), and the writer carries on. It logs a failure once per
// distinct error, not once per job. [Writer.LastProgress] tells a watchdog whether
// the writer is alive.
//
// # Crash semantics
//
// Done(nil) means the transaction is on stable storage: bbolt writes the data pages,
// fsyncs, then writes the meta page and fsyncs again, and a reader always picks the
// newer of two checksummed meta pages. A power cut loses at most the batch being
// written, whose jobs were never acknowledged; the test TestCrashEnqueue kills a
// writing process with SIGKILL again and again and checks that no acknowledged event
// is missing and the file stays consistent. The store never sets bbolt's NoSync, except when a benchmark asks for it
// explicitly (Options.NoSync, the unsafe baseline of `make bench`).
//
// It does set NoFreelistSync: the list of free pages is not written at each commit
// (less flash wear) and is rebuilt by scanning the file at Open, which makes Open
// read the whole file once.
//
// # Corruption and quarantine
//
// A store that cannot be opened must not keep the relay down forever. Open checks
// the file: it reads the meta pages and walks every page of the tree with ordinary
// bounds-checked reads before bbolt maps the file (bbolt follows page ids through the
// map unchecked, and a truncated file or a wild page id would crash the process with
// SIGBUS, beyond the reach of recover), recovers from bbolt panics, and then, unless
// [Options].NoVerify, runs bbolt's consistency check and decodes every record. When
// any of that fails, the file is renamed to <dir>/quarantine/<base>.<UTC time>.corrupt,
// the event is logged at ERROR, a fresh empty store is opened in its place, and
// [DB.Quarantined] tells the daemon, which raises a loud health condition. The
// damaged file is never deleted: it can be inspected with the bbolt command. A held
// lock ([ErrLocked]) and a file from a newer edgerelay ([ErrSchemaNewer]) are not
// corruption; Open returns those errors and leaves the file alone.
//
// # Bounds
//
// [DB.SetLimits] bounds what bad input or a long outage can make the store keep
// ([Limits]). Dead letters are bounded per sink in number and bytes: the Commit that
// adds one over a bound evicts that sink's oldest in the same transaction, counts it
// ([DB.Evicted]), logs once per commit and sink, and tells [DB.OnEvict]. The usage
// per sink is counted by a walk the first time a commit needs it and then kept by
// the commits; any other write transaction (Retry, Drop) makes the next commit count
// again. The live data is bounded too, but the store does not refuse writes for it:
// after every commit it measures the pages in use (the high-water mark minus bbolt's
// free and pending pages, numbers bbolt keeps) and [DB.HasRoom] tells the caller,
// which holds events back (the pipeline's back-pressure); [DB.Space] reports it, full
// from the first refusal until a commit leaves it under 90% of the bound.
//
// # bbolt caveats
//
// The file never shrinks. Deleted pages are reused, but the file keeps the size of
// its largest backlog; after a long outage it stays large until compacted offline.
// [Stats].FileBytes shows it; [Space].Live is what is in use, which Limits.MaxBytes
// bounds.
//
// The very first initialisation of a new file is not crash safe in bbolt: a power cut
// while the first pages are written can leave a file that fails its meta check. Open
// then quarantines it like any other damaged file; nothing of value is lost because
// the file was empty.
//
// bbolt maps the whole file into memory. On 32-bit targets (armv6, armv7, mipsle)
// the address space limits the file to well under 2 GiB in practice, and growing the
// map needs one contiguous free range of addresses; the store therefore does not
// reserve a large initial map. It also sets bbolt's growth step to 1 MiB, so the file
// keeps at most about 1 MiB of slack past its data (bbolt's default of 16 MiB would
// let a file reach twice its data, and 16 MiB on top), which suits small overlay
// partitions. Keep outboxes bounded on such devices.
//
// Only one process may open the file: bbolt takes an exclusive flock, and Open gives
// up after [Options].Timeout with an error saying another edgerelay is using it.
package store
