// Package all links every compiled-in adapter into the binary. Each adapter has one
// maybe_<name>.go file here holding a blank import behind an omit build tag, so a slim
// build (for a small router) can leave adapters out with -tags edgerelay_omit_<name>
// (several comma-separated). Only this package imports concrete adapters, so a tag
// drops the adapter and every dependency only it needs.
//
// Under the tag, omit_<name>.go records each type the adapter would register with
// adapters.RegisterOmitted: a configuration or command naming it is told that the
// binary was built without it (adapters.NotBuiltIn), and `edgerelay version` lists
// the tags.
//
// The tags: edgerelay_omit_alerta (the alerta source and sink), edgerelay_omit_ilert
// (the ilert sink, the ilert_http source and the ilert transform),
// edgerelay_omit_kafka, edgerelay_omit_mqtt, edgerelay_omit_script,
// edgerelay_omit_stdout, edgerelay_omit_webhook, and one per lifecycle-event broker
// (package adapters/lifecycle): edgerelay_omit_lifecycle_nats, _kafka, _amqp091,
// _redis, _mqtt, _awssns and _googlepubsub. With all of them the binary is the core:
// daemon, store, pipeline, HTTP server and embedded broker. cmd/edgerelay's TestFlavoursLink checks
// what each flavour links.
package all
