// Package adaptertest holds what every adapter's tests share: the black-box
// conformance suites for sinks and sources (RunSink, RunSource), and the rule for
// tests that cannot run on a machine lacking something they need (Missing,
// NeedService): a visible SKIP on a developer machine, a failure under CI=true.
//
// A harness that leaves out a capability a case needs gets the same rule. An adapter
// that cannot support a case says so in the harness's Unsupported map, with the
// reason the suite logs when it skips the case.
package adaptertest
