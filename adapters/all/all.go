// Package all links every compiled-in adapter into the binary. Each adapter has one
// maybe_<name>.go file here holding a blank import behind an omit build tag, so a slim
// build (for a small router) can leave adapters out with -tags edgerelay_omit_<name>.
package all
