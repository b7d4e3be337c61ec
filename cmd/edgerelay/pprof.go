//go:build edgerelay_pprof

package main

// A profiling build (go build -tags edgerelay_pprof) serves net/http/pprof on the
// loopback address in EDGERELAY_PPROF (for example 127.0.0.1:6060), for the W1
// profiles behind docs/benchmarks.md. Release builds never include it: the
// profiler exposes the process's memory and is not a feature.

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("EDGERELAY_PPROF")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		slog.Error("EDGERELAY_PPROF must be a loopback host:port; profiler not started", "addr", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go func() {
		if err := http.ListenAndServe(addr, mux); err != nil {
			slog.Error("profiler", "err", err)
		}
	}()
}
