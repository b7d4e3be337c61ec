package web

// families describes every metric family /metrics exposes: the daemon's own (the
// names in metrics.go) and those the metrics library writes about the Go runtime and
// the process. A family missing here is exposed with a placeholder HELP text and type
// untyped, which TestMetricsFamiliesDocumented and the promtool check refuse: add new
// metrics here in the same change.
var families = map[string]family{
	// The daemon's.
	MetricEventsIn:  {typ: "counter", help: "Events a source handed to the daemon, by source."},
	MetricEventsOut: {typ: "counter", help: "Events a sink delivered, by sink."},
	MetricEventsRejected: {typ: "counter", help: "Events refused at intake (unrouted, not JSON, over the size limit, refused by a transform), " +
		"by source and reason."},
	MetricRetries:     {typ: "counter", help: "Failed sends that were scheduled for a retry, by sink."},
	MetricDeadLetters: {typ: "counter", help: "Events moved to a sink's dead letters, by sink."},
	MetricQueueDepth:  {typ: "gauge", help: "Events waiting in a sink's outbox, by sink."},
	MetricQueueOldestAge: {typ: "gauge", help: "Age in seconds of the oldest event waiting in a sink's outbox (0 when it is empty), " +
		"by sink."},
	MetricStoreCommits:      {typ: "counter", help: "Write transactions the store committed."},
	MetricStoreBytesWritten: {typ: "counter", help: "Bytes the store wrote to disk (estimated from the pages written): the flash wear."},
	MetricStoreQuarantined: {typ: "gauge", help: "1 when a corrupt store file was moved aside at startup and the daemon runs on " +
		"a fresh one, else 0."},
	MetricStoreStranded: {typ: "gauge", help: "Entries found at start in an outbox or dead-letter bucket of a sink the configuration " +
		"no longer has (renamed or removed; edgerelay queue move hands them on), by sink and bucket."},
	MetricStoreLiveBytes: {typ: "gauge", help: "The store's live data in bytes (pages in use, not the file size): what " +
		"store.max_bytes bounds."},
	MetricStoreMaxBytes: {typ: "gauge", help: "The store's bound in bytes in effect (store.max_bytes, lowered to what the disk " +
		"can hold); 0 when unbounded."},
	MetricStoreFull: {typ: "gauge", help: "1 while the store is at store.max_bytes and new events wait (back-pressure), else 0."},
	MetricDeadLettersEvicted: {typ: "counter", help: "Dead letters evicted, oldest first, to keep a sink's dead letters within " +
		"store.max_dead_letters and store.max_dead_bytes, by sink."},
	MetricDeadLettersKept: {typ: "gauge", help: "Dead letters a sink has in the store, waiting for edgerelay queue retry " +
		"or queue drop, by sink."},
	MetricHTTPErrors: {typ: "counter", help: "Connections and requests the daemon's HTTP servers gave up on before a handler ran " +
		"(failed TLS handshakes, malformed requests, panics), by listener and reason."},
	MetricAdminRefused: {typ: "counter", help: "Status page actions (retry or drop dead letters) refused before they ran: read-only, " +
		"cross-origin, token in the URL, no or a wrong token, rate-limited, malformed, by reason."},
	MetricLifecyclePublished: {typ: "counter", help: "Lifecycle CloudEvents the lifecycle broker took, by type."},
	MetricLifecycleFailed:    {typ: "counter", help: "Failed connects and publishes to the lifecycle broker (each is retried with backoff)."},
	MetricLifecycleDropped: {typ: "counter", help: "Lifecycle events lost: the buffer (events.buffer) was full and the oldest went, " +
		"or shutdown came before the broker took them."},
	MetricLifecycleBuffered:  {typ: "gauge", help: "Lifecycle events waiting for the broker."},
	MetricLifecycleConnected: {typ: "gauge", help: "1 while the lifecycle broker is connected, else 0."},
	MetricBusDropped:         {typ: "counter", help: "Daemon events a bus subscriber lost because it did not read them in time, by subscriber."},
	MetricBrokerRejects: {typ: "counter", help: "Connections and packets the embedded MQTT broker refused (bad credentials, " +
		"oversize, malformed, protocol errors), by reason."},
	MetricSourceRole: {typ: "gauge", help: "1 for the high-availability role a source reports now (active, standby), 0 for the " +
		"roles it reported before, by source and role."},
	MetricSinkCircuit: {typ: "gauge", help: "1 for the state a sink's circuit breaker is in now (closed, open, half_open), 0 for the " +
		"other states, by sink and state."},
	MetricLEDPattern: {typ: "gauge", help: "1 for the status LED pattern the daemon's state calls for now (docs/leds.md: off, heartbeat, " +
		"draining, degraded, near-full, config-invalid, storage-fault), 0 for the others, with or without an LED, by pattern."},
	MetricSourceRejects: {typ: "counter", help: "Requests a source's listener refused before they became events (unauthorized, " +
		"malformed, too large, wrong method or path), by source and reason."},
	MetricConfigReloads: {typ: "counter", help: "Configuration reloads (SIGHUP, systemctl reload), by result: ok (applied) or " +
		"failed (refused; the previous configuration still runs)."},
	MetricConfigReloadOK: {typ: "gauge", help: "1 when the last configuration reload was applied (or none was tried), 0 when it " +
		"was refused."},
	MetricConfigReloadTime: {typ: "gauge", help: "Unix time the running configuration was applied: the start, then each " +
		"successful reload."},

	// The Go runtime's (github.com/VictoriaMetrics/metrics, WriteProcessMetrics).
	"go_info":                             {typ: "gauge", help: "The Go version the daemon was built with (always 1)."},
	"go_info_ext":                         {typ: "gauge", help: "The Go compiler, target architecture and OS the daemon was built for (always 1)."},
	"go_cpu_count":                        {typ: "gauge", rename: "go_cpus", help: "Logical CPUs usable by the daemon."},
	"go_cgo_calls_count":                  {drop: true}, // built with CGO_ENABLED=0: always 0
	"go_gc_forced_count":                  {typ: "counter", rename: "go_gc_forced_total", help: "Garbage collections forced by the application."},
	"go_gc_duration_seconds":              {typ: "summary", help: "Pause times of the last 256 garbage collections, in seconds."},
	"go_gc_pauses_seconds":                {typ: "histogram", help: "Distribution of individual garbage collection pause times, in seconds."},
	"go_sched_latencies_seconds":          {typ: "histogram", help: "Distribution of the time goroutines waited to run after becoming runnable, in seconds."},
	"go_mutex_wait_seconds_total":         {typ: "counter", help: "Time goroutines spent blocked on a sync.Mutex or sync.RWMutex, in seconds."},
	"go_gc_cpu_seconds_total":             {typ: "counter", help: "CPU time spent in the garbage collector, in seconds."},
	"go_gc_mark_assist_cpu_seconds_total": {typ: "counter", help: "CPU time goroutines spent assisting the garbage collector, in seconds."},
	"go_scavenge_cpu_seconds_total":       {typ: "counter", help: "CPU time spent returning unused memory to the OS, in seconds."},
	"go_memlimit_bytes":                   {typ: "gauge", help: "The Go runtime's soft memory limit (GOMEMLIMIT), in bytes."},
	"go_gomaxprocs":                       {typ: "gauge", help: "GOMAXPROCS: the most OS threads running Go code at once."},
	"go_goroutines":                       {typ: "gauge", help: "Goroutines that currently exist."},
	"go_threads":                          {typ: "gauge", help: "OS threads the Go runtime created."},
	"go_memstats_alloc_bytes":             {typ: "gauge", help: "Bytes of allocated heap objects."},
	"go_memstats_alloc_bytes_total":       {typ: "counter", help: "Bytes allocated for heap objects, freed ones included."},
	"go_memstats_buck_hash_sys_bytes":     {typ: "gauge", help: "Bytes of memory in profiling bucket hash tables."},
	"go_memstats_frees_total":             {typ: "counter", help: "Heap objects freed."},
	"go_memstats_gc_cpu_fraction":         {typ: "gauge", help: "Fraction of the CPU time available since the start used by the garbage collector."},
	"go_memstats_gc_sys_bytes":            {typ: "gauge", help: "Bytes of memory in garbage collection metadata."},
	"go_memstats_heap_alloc_bytes":        {typ: "gauge", help: "Bytes of allocated heap objects."},
	"go_memstats_heap_idle_bytes":         {typ: "gauge", help: "Bytes in idle (unused) heap spans."},
	"go_memstats_heap_inuse_bytes":        {typ: "gauge", help: "Bytes in in-use heap spans."},
	"go_memstats_heap_objects":            {typ: "gauge", help: "Allocated heap objects."},
	"go_memstats_heap_released_bytes":     {typ: "gauge", help: "Bytes of heap memory returned to the OS."},
	"go_memstats_heap_sys_bytes":          {typ: "gauge", help: "Bytes of heap memory obtained from the OS."},
	"go_memstats_last_gc_time_seconds":    {typ: "gauge", help: "Time the last garbage collection finished, in seconds since the Unix epoch."},
	"go_memstats_lookups_total":           {typ: "counter", help: "Pointer lookups performed by the runtime."},
	"go_memstats_mallocs_total":           {typ: "counter", help: "Heap objects allocated."},
	"go_memstats_mcache_inuse_bytes":      {typ: "gauge", help: "Bytes of allocated mcache structures."},
	"go_memstats_mcache_sys_bytes":        {typ: "gauge", help: "Bytes of memory obtained from the OS for mcache structures."},
	"go_memstats_mspan_inuse_bytes":       {typ: "gauge", help: "Bytes of allocated mspan structures."},
	"go_memstats_mspan_sys_bytes":         {typ: "gauge", help: "Bytes of memory obtained from the OS for mspan structures."},
	"go_memstats_next_gc_bytes":           {typ: "gauge", help: "Heap size the next garbage collection aims for, in bytes."},
	"go_memstats_other_sys_bytes":         {typ: "gauge", help: "Bytes of memory in miscellaneous runtime allocations."},
	"go_memstats_stack_inuse_bytes":       {typ: "gauge", help: "Bytes in stack spans."},
	"go_memstats_stack_sys_bytes":         {typ: "gauge", help: "Bytes of stack memory obtained from the OS."},
	"go_memstats_sys_bytes":               {typ: "gauge", help: "Bytes of memory obtained from the OS in total."},

	// The process's (/proc/self on Linux).
	"process_cpu_seconds_total":              {typ: "counter", help: "CPU time the process used, user and system, in seconds."},
	"process_cpu_seconds_user_total":         {typ: "counter", help: "CPU time the process used in user mode, in seconds."},
	"process_cpu_seconds_system_total":       {typ: "counter", help: "CPU time the process used in the kernel, in seconds."},
	"process_major_pagefaults_total":         {typ: "counter", help: "Page faults that needed a disk read."},
	"process_minor_pagefaults_total":         {typ: "counter", help: "Page faults served without a disk read."},
	"process_num_threads":                    {typ: "gauge", help: "OS threads of the process."},
	"process_resident_memory_bytes":          {typ: "gauge", help: "Resident memory of the process, in bytes."},
	"process_resident_memory_peak_bytes":     {typ: "gauge", help: "Peak resident memory of the process, in bytes."},
	"process_resident_memory_anon_bytes":     {typ: "gauge", help: "Resident anonymous memory of the process, in bytes."},
	"process_resident_memory_file_bytes":     {typ: "gauge", help: "Resident file-backed memory of the process (the memory-mapped store among it), in bytes."},
	"process_resident_memory_shared_bytes":   {typ: "gauge", help: "Resident shared memory of the process, in bytes."},
	"process_virtual_memory_bytes":           {typ: "gauge", help: "Virtual memory of the process, in bytes."},
	"process_virtual_memory_peak_bytes":      {typ: "gauge", help: "Peak virtual memory of the process, in bytes."},
	"process_start_time_seconds":             {typ: "gauge", help: "Time the process started, in seconds since the Unix epoch."},
	"process_open_fds":                       {typ: "gauge", help: "File descriptors the process has open."},
	"process_max_fds":                        {typ: "gauge", help: "Most file descriptors the process may open."},
	"process_io_read_bytes_total":            {typ: "counter", help: "Bytes the process read, from any file or socket."},
	"process_io_written_bytes_total":         {typ: "counter", help: "Bytes the process wrote, to any file or socket."},
	"process_io_read_syscalls_total":         {typ: "counter", help: "Read system calls the process made."},
	"process_io_write_syscalls_total":        {typ: "counter", help: "Write system calls the process made."},
	"process_io_storage_read_bytes_total":    {typ: "counter", help: "Bytes the process read from storage."},
	"process_io_storage_written_bytes_total": {typ: "counter", help: "Bytes the process wrote to storage (the flash wear, with other writers' share excluded)."},
}
