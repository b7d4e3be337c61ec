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
//	meta/schema          uint64 big-endian, currently 2
//	meta/records         "2" when the file was created holding version 2 records only
//	outbox/<sink>/<seq>  record      seq: 8 bytes big-endian
//	dead/<sink>/<seq>    record with reason and time
//	cursors/<name>       value       source state: source/<instance>/<name>
//
// A record (version 2, see record.go) is a version byte, a byte of flags saying which
// optional fields follow, the record's own location (kind outbox or dead, sink, seq)
// and the id of the transaction that wrote it, varints for times (milliseconds) and
// counts, length-prefixed strings, the event bytes as-is, and a CRC32C (Castagnoli)
// of everything before it. A fresh entry costs about twenty bytes plus its key, sink
// name and data. Every read verifies the checksum and that the record is where it
// says it belongs; a record that fails is never handed out as an event: [DB.Scan]
// passes it with [Entry].Corrupt set and its raw bytes as Data, [Batch.DeadLetter]
// keeps the mark (the reason starts with [CorruptReasonPrefix]), [DB.Retry] leaves
// such dead letters in place, and an Update of a record that went bad moves it to the
// dead letters instead of failing the commit.
//
// Schema 1 files hold version 1 records: the same fields without location, txid or
// checksum. They still read, trusted as they always were; Open rewrites meta/schema
// to 2 once (new writes are version 2), and an edgerelay that knows only schema 1
// refuses the file with ErrSchemaNewer, leaving it alone, rather than taking the new
// records for damage. [OpenReadOnly] never upgrades. A file created at schema 2
// says so (meta/records is "2"): there a record whose version byte reads 1 is damage
// (a version 1 record carries no checksum, so a damaged version byte would skip it)
// and is treated as corrupt (TestVersionByteDamageIsCorrupt). The salvage's page scan
// does not make this distinction.
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
// # Corruption, quarantine and salvage
//
// A store that cannot be opened must not keep the relay down forever. Open checks
// the file: it reads the meta pages and walks every page of the tree with ordinary
// bounds-checked reads before bbolt maps the file (bbolt follows page ids through the
// map unchecked, and a truncated file or a wild page id would crash the process with
// SIGBUS, beyond the reach of recover), recovers from bbolt panics, and then, unless
// [Options].NoVerify, runs bbolt's consistency check and decodes every record. When
// any of that fails, the file is renamed to <dir>/quarantine/<base>.<UTC time>.corrupt,
// what is readable of it is salvaged into a new file at the store's path, the event is
// logged at ERROR with the salvage's summary, the salvaged store is opened, and
// [DB.Quarantined] and [DB.Salvaged] tell the daemon, which raises a loud health
// condition saying what was lost. The damaged file is never deleted: it can be
// inspected with the bbolt command or salvaged again. A held lock ([ErrLocked]) and a
// file from a newer edgerelay ([ErrSchemaNewer]) are not corruption; Open returns
// those errors and leaves the file alone.
//
// [Salvage] (also `edgerelay queue salvage`) reads the damaged file with ordinary
// reads only. It walks the tree from the newest valid meta page, skipping every page
// that cannot be read as what it should be; what it reaches is live, and a bucket it
// reads whole is the truth for that bucket. Where the walk met damage, it scans every
// page it did not reach (page size from a meta page, else 4096 and the OS page size),
// recognises bbolt leaf pages by their header (their own page id, the leaf flag, and
// elements inside the page, inline buckets included), and decodes each element as a
// record: a version 2 record whose checksum verifies goes back to its own bucket and
// seq, so each outbox keeps its order, unless the walk read that bucket whole; of two
// copies of one record, the newer transaction's wins. So a power cut that leaves only
// leaf pages readable loses only what lived on the damaged pages. What the report
// counts as lost: the damaged pages and the buckets they belonged to, records that
// fail their checksum outside the readable tree, version 1 records only the scan found
// (they do not say where they belong), and the cursors when their bucket was damaged.
// A record that fails its checksum where the walk found it becomes a corrupt dead
// letter of its sink. Because bbolt's pages carry no transaction id and freed pages
// keep their old contents, the scan may bring back an event that had been delivered
// or moved since (a duplicate, which at-least-once delivery allows), never a loss.
// The salvage is written to <path>.salvage and renamed into place when complete.
// Before the damaged file is moved, <path>.salvage-pending records where it goes; if
// the process dies before the salvage ends, the next Open finds the marker and no
// store, and salvages the quarantined file again instead of starting empty
// (TestInterruptedSalvageResumes). The marker goes when the salvage ends.
//
// [OpenReadOnly] is for inspection (the CLI's stats, list and check): bbolt's
// ReadOnly mode and a shared lock, nothing created, written or quarantined, a missing
// file an error naming it, a damaged one an error naming the damage.
//
// [DB.Move] hands a sink's outbox and dead letters to another sink (a renamed or
// removed sink's "stranded" events): to the end of the other's buckets with new seqs,
// in order, in steps of 1024 entries, each one transaction that appends a prefix and
// deletes it from the old sink; a crash between steps leaves both consistent and a
// second Move carries on in order.
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
