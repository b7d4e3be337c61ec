// Package ilagent parses ilagent's command line (ilert's Rust agent) so that
// edgerelay can be a drop-in replacement for it.
//
// [Parse] is pure: it reads only the arguments and the environment lookup it is
// given, performs no I/O and logs nothing. Non-fatal findings (a stripped
// "Bearer " prefix, consumer flags ignored without a consumer) are returned in
// [Daemon.Warnings] for the caller to log.
//
// # Exit codes
//
// ilagent reports clap errors (unknown flag, bad enum value, missing required
// argument) with exit code 2, and startup-validation failures as Rust panics
// with exit code 101. edgerelay turns both into a [*UsageError] whose Code is 2:
// the caller prints the message on stderr and exits 2, never with a panic trace.
// The validation messages are ilagent's, word for word, unless the package
// README lists a deliberate difference.
//
// The spec is /work/shared/specs/ilagent-behavior.md §2; its scenarios 1–17
// (and the edge scenarios 18–26) are the table tests of this package.
package ilagent
