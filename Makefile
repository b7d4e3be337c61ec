# edgerelay: build, test, cross-compile and package. GNU make.
#
#   make build    static binary for this machine: bin/edgerelay
#   make run      build, then run the embedded default (broker + stdout sink)
#   make test     the test suite (what CI and the README run)
#   make lint     gofmt, go vet (host, 32-bit ARM, MIPS softfloat)
#   make cross    release binaries for every target into dist/, plus core-only
#                 (all adapters omitted) ones, with a size table
#   make bench    regenerate docs/benchmarks.md
#   make fuzz     run every go test -fuzz target for FUZZTIME each (default 60s,
#                 e.g. make fuzz FUZZTIME=3m); a crasher is written to the package's
#                 testdata/fuzz/<FuzzName>/ and fails the run. The seed corpora run
#                 with every go test anyway.
#   make package  .deb and .ipk packages into dist/packages/ (installs nfpm), with
#                 the man page, completions and docs generated into dist/share/
#   make repro    make package twice from scratch, check the packages are identical
#   make clean

GO    ?= go
GOFMT ?= $(shell $(GO) env GOROOT)/bin/gofmt

ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
endif
# Timestamps in the packages (nfpm, the man page, the changelog): the last
# commit's by default, so two builds of one commit are byte-identical.
ifeq ($(origin SOURCE_DATE_EPOCH),undefined)
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
endif
export SOURCE_DATE_EPOCH
ifeq ($(origin COMMIT),undefined)
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
endif

BUILDINFO := github.com/edgerelay/edgerelay/cmd/edgerelay/internal/buildinfo
LDFLAGS   := -s -w -X $(BUILDINFO).Version=$(VERSION) -X $(BUILDINFO).Commit=$(COMMIT)
MAIN      := ./cmd/edgerelay

# Extra flags: make test TESTFLAGS='-run TestX -v', make run RUNFLAGS='-c my.yaml'.
TESTFLAGS  ?=
RUNFLAGS   ?=
BENCHFLAGS ?=

# CI=true (from the environment or `make test CI=true`) reaches the tests as is:
# it turns a test's missing machine service from a skip into a failure.

# Release targets: dist/edgerelay_linux_<name>, built with GOARCH and extra env.
#   name              GOARCH  env
CROSS := \
	armv6             arm     GOARM=6 \
	armv7             arm     GOARM=7 \
	arm64             arm64   - \
	mipsle_softfloat  mipsle  GOMIPS=softfloat \
	mips_softfloat    mips    GOMIPS=softfloat \
	amd64             amd64   -

# Core-only binaries: dist/edgerelay-core_linux_<name>, every adapter left out (one
# edgerelay_omit_<name> tag per adapters/all/omit_<name>.go) and the GPIO LED backend
# too (edgerelay_omit_gpio: periph, an optional hardware backend like an adapter; the
# LED-class backend stays): the daemon, store, embedded broker, status page and
# command line, for size budgets (performance guide W8). They are measured, not
# packaged.
CROSS_CORE := \
	armv7             arm     GOARM=7 \
	mipsle_softfloat  mipsle  GOMIPS=softfloat
CORE_BUDGET_MIB := 10
# The release binary with every adapter and every lifecycle broker (issue 11).
FULL_BUDGET_MIB := 20

# Binaries without the lifecycle-event brokers: dist/edgerelay-noevents_linux_<name>,
# every edgerelay_omit_lifecycle_* tag given, to show what the seven brokers cost.
CROSS_NOEVENTS := \
	armv7             arm     GOARM=7 \
	mipsle_softfloat  mipsle  GOMIPS=softfloat

comma    := ,
empty    :=
space    := $(empty) $(empty)
OMIT_ALL := $(subst $(space),$(comma),$(sort $(patsubst adapters/all/omit_%.go,edgerelay_omit_%,$(wildcard adapters/all/omit_*.go)) edgerelay_omit_gpio))
OMIT_LIFECYCLE := $(subst $(space),$(comma),$(sort $(patsubst adapters/all/omit_%.go,edgerelay_omit_%,$(wildcard adapters/all/omit_lifecycle_*.go))))

NFPM_VERSION := v2.45.2
NFPM         := bin/nfpm-$(NFPM_VERSION)/nfpm
PKG_VERSION   = $(shell sh packaging/version.sh '$(VERSION)')

# Fuzz targets, package and function; one go test -fuzz run each (Go fuzzes one
# target at a time). -parallel 1 keeps a small machine usable meanwhile.
FUZZTIME ?= 60s
FUZZ := \
	./adapters                    FuzzEventRoundTrip \
	./adapters                    FuzzEventUnmarshal \
	./adapters/topic              FuzzMatch \
	./adapters/mqtt               FuzzTopicTemplate \
	./adapters/ilert              FuzzEncode \
	./adapters/ilert              FuzzCheckEvent \
	./adapters/ilert/internal/jsonscan FuzzScan \
	./adapters/ilert/mapping      FuzzTransform \
	./adapters/ilert/ingest       FuzzHandler \
	./adapters/ilert              FuzzFromAlerta \
	./adapters/alerta             FuzzPyJSON \
	./adapters/alerta             FuzzDecodeAlert \
	./adapters/alerta             FuzzStoredUnmarshal \
	./adapters/alerta             FuzzBookQuery \
	./adapters/alerta             FuzzFromEvent \
	./adapters/alerta/hawk        FuzzParseHeader \
	./adapters/alerta/hawk        FuzzVerify \
	./adapters/alerta/receiver    FuzzReceiverJSON \
	./adapters/alerta/alertatest  FuzzServeHTTP \
	./daemon/config               FuzzParse \
	./store                       FuzzRecordRoundTrip \
	./store                       FuzzDecodeRecord

.PHONY: all build run test lint cross bench fuzz package pkgdocs repro clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/edgerelay $(MAIN)

run: build
	./bin/edgerelay run $(RUNFLAGS)

# The race pass needs cgo; the second pass runs the store's tests again on bbolt's
# array freelist (the default is the hashmap one). cmd/edgerelay's end-to-end tests
# take 5-6 minutes under the race detector on two shared cores, close to go test's
# default 10-minute limit per package: the limit is 30 minutes (a hang still ends).
test:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m $(TESTFLAGS) ./...
	EDGERELAY_TEST_FREELIST=array $(GO) test -count=1 $(TESTFLAGS) ./store/...

lint:
	@echo '$(GOFMT) -l .'
	@out=$$($(GOFMT) -l $$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*') </dev/null); \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run gofmt -w):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) vet ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=mipsle GOMIPS=softfloat $(GO) vet ./...

cross:
	@mkdir -p dist
	@set -e; \
	build() { \
		echo "CGO_ENABLED=0 GOOS=linux GOARCH=$$2 $$3 $(GO) build -trimpath $$4 -ldflags '$(LDFLAGS)' -o dist/$$1 $(MAIN)"; \
		env CGO_ENABLED=0 GOOS=linux GOARCH=$$2 $$3 $(GO) build -trimpath $$4 -ldflags '$(LDFLAGS)' -o dist/$$1 $(MAIN); \
	}; \
	set -- $(CROSS); while [ $$# -gt 0 ]; do \
		extra=$$3; [ "$$extra" = - ] && extra=; build edgerelay_linux_$$1 $$2 "$$extra" ""; shift 3; \
	done; \
	set -- $(CROSS_CORE); while [ $$# -gt 0 ]; do \
		extra=$$3; [ "$$extra" = - ] && extra=; build edgerelay-core_linux_$$1 $$2 "$$extra" "-tags $(OMIT_ALL)"; shift 3; \
	done; \
	set -- $(CROSS_NOEVENTS); while [ $$# -gt 0 ]; do \
		extra=$$3; [ "$$extra" = - ] && extra=; build edgerelay-noevents_linux_$$1 $$2 "$$extra" "-tags $(OMIT_LIFECYCLE)"; shift 3; \
	done
	@set -e; { \
		printf '%-48s %10s %8s\n' binary bytes MiB; \
		set -- $(CROSS); while [ $$# -gt 0 ]; do files="$$files dist/edgerelay_linux_$$1"; shift 3; done; \
		set -- $(CROSS_NOEVENTS); while [ $$# -gt 0 ]; do files="$$files dist/edgerelay-noevents_linux_$$1"; shift 3; done; \
		set -- $(CROSS_CORE); while [ $$# -gt 0 ]; do files="$$files dist/edgerelay-core_linux_$$1"; shift 3; done; \
		for f in $$files; do \
			awk -v f="$$f" -v s="$$(stat -c %s "$$f")" 'BEGIN { printf "%-48s %10d %8.2f\n", f, s, s / 1048576 }'; \
		done; } | tee dist/sizes.txt
	@s=$$(stat -c %s dist/edgerelay-core_linux_armv7); if [ $$s -gt $$(($(CORE_BUDGET_MIB) * 1048576)) ]; then \
		echo "dist/edgerelay-core_linux_armv7 is $$s bytes, over the $(CORE_BUDGET_MIB) MiB budget (W8)" >&2; exit 1; fi
	@s=$$(stat -c %s dist/edgerelay_linux_armv7); if [ $$s -gt $$(($(FULL_BUDGET_MIB) * 1048576)) ]; then \
		echo "dist/edgerelay_linux_armv7 is $$s bytes, over the $(FULL_BUDGET_MIB) MiB budget (issue 11)" >&2; exit 1; fi
	GO='$(GO)' bash .ci/check-reflect.sh $(MAIN)

fuzz:
	@set -e; set -- $(FUZZ); while [ $$# -gt 0 ]; do \
		echo "$(GO) test $$1 -run '^$$' -fuzz '^$$2$$' -fuzztime $(FUZZTIME) -parallel 1"; \
		$(GO) test $$1 -run '^$$' -fuzz "^$$2\$$" -fuzztime $(FUZZTIME) -parallel 1; \
		shift 2; \
	done

bench:
	$(GO) run ./cmd/edgerelay-bench -out docs/benchmarks.md $(BENCHFLAGS)

# nfpm is installed from its own module at a pinned version: the daemon's go.mod
# stays free of packaging tools.
$(NFPM):
	GOFLAGS= GOBIN='$(CURDIR)/$(dir $(NFPM))' $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

# One nfpm run per package: format, package arch, binary from `make cross`.
#   deb armhf ships the GOARM=6 binary: it runs on every Raspberry Pi, and armv6
#   and armv7 debs would both claim armhf.
#   ipk arches are OpenWrt's (opkg refuses any other): mipsel_24kc (ramips, ...),
#   mips_24kc (ath79, big-endian), arm_cortex-a7_neon-vfpv4 (ipq40xx),
#   aarch64_cortex-a53 (mediatek filogic, ...), aarch64_cortex-a72 (bcm27xx
#   Raspberry Pi 4), x86_64. .goreleaser.yaml builds the same list.
PACKAGES := \
	deb  amd64                     amd64 \
	deb  armhf                     armv6 \
	deb  arm64                     arm64 \
	ipk  mipsel_24kc               mipsle_softfloat \
	ipk  mips_24kc                 mips_softfloat \
	ipk  arm_cortex-a7_neon-vfpv4  armv7 \
	ipk  aarch64_cortex-a53        arm64 \
	ipk  aarch64_cortex-a72        arm64 \
	ipk  x86_64                    amd64

# Sample configurations installed as /usr/share/doc/edgerelay/examples/<name>.yaml:
# adapters/alerta/forward/sample.yaml becomes alerta-forward.yaml.
EXAMPLES := $(sort $(wildcard adapters/*/sample.yaml adapters/*/*/sample.yaml))

# What the packages install besides the binary and rootfs/, generated from the
# tree by this machine's build (bin/edgerelay gen-docs): dist/share/.
pkgdocs: build
	@rm -rf dist/share && mkdir -p dist/share/gen dist/share/man dist/share/completions dist/share/doc/examples
	./bin/edgerelay gen-docs dist/share/gen
	gzip -9n <dist/share/gen/edgerelay.1 >dist/share/man/edgerelay.1.gz
	cp dist/share/gen/edgerelay.bash dist/share/gen/_edgerelay dist/share/gen/edgerelay.fish dist/share/completions/
	sh packaging/debian/changelog.sh '$(PKG_VERSION)' | gzip -9n >dist/share/doc/changelog.Debian.gz
	gzip -9n <CHANGELOG.md >dist/share/doc/changelog.gz
	gzip -9n <README.md >dist/share/doc/README.md.gz
	cp packaging/debian/copyright dist/share/doc/copyright
	@set -e; for f in $(EXAMPLES); do \
		n=$$(dirname "$${f#adapters/}" | tr / -); cp "$$f" "dist/share/doc/examples/$$n.yaml"; \
	done
	@chmod -R u=rwX,go=rX dist/share
	@touch -h -d @$(SOURCE_DATE_EPOCH) $$(find dist/share)

package: cross $(NFPM) pkgdocs
	@rm -rf dist/packages && mkdir -p dist/packages
	@set -e; version=$(PKG_VERSION); set -- $(PACKAGES); while [ $$# -gt 0 ]; do \
		sh packaging/nfpm-package.sh $(NFPM) $$1 $$2 dist/edgerelay_linux_$$3 $$version dist/packages; \
		shift 3; \
	done
	@cd dist/packages && sha256sum * >SHA256SUMS
	@ls -l dist/packages

# Two `make package` runs with the same SOURCE_DATE_EPOCH, the second from a clean
# dist/: every package and binary must be byte-identical.
repro:
	bash .ci/check-repro.sh

clean:
	rm -rf bin dist
