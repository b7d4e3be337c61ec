// Package mapping turns consumer messages (MQTT, Kafka) into ilert event bodies the way
// ilagent does (spec ilagent-behavior.md §6 and §7), with ilagent's mapping defects
// fixed (§11.5, §11.7, §11.8): see README.md for the table of differences.
//
// Everything here is pure: no I/O, no logging, no clock. [Topics.Classify] decides what
// a message is from its topic, [Map] and [MapKafka] build the event body or say why the
// message is skipped, and [HeartbeatKey] reads a heartbeat message.
//
// Paths in the configuration (map_key_*, filter_key) are gjson dot paths
// (github.com/tidwall/gjson): a plain "a.b.c" descends through objects exactly as in
// ilagent; a top-level key that itself contains a dot or a gjson metacharacter is
// still found by its literal name when the path finds nothing.
package mapping
