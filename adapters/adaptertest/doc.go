// Package adaptertest holds what every adapter's tests share: the black-box
// conformance suites for sinks and sources (RunSink, RunSource) and the rule for tests
// that need a machine service (NeedService).
package adaptertest
