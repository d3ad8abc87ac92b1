# zz — see README.md. Every target works on a fresh machine: tools are built
# from Go modules by hack/ and cached in _output/.

GO        ?= go
BIN       := _output/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X github.com/zzcloud/zz/internal/version.gitVersion=$(VERSION) \
             -X github.com/zzcloud/zz/internal/version.gitCommit=$(COMMIT)
# Unit tests: every package but the e2e suite (its framework's own tests included).
UNIT_PKGS  = $(shell $(GO) list ./... | grep -v '/test/e2e$$')
E2E_TIMEOUT ?= 30m
# go-nvml's cgo bindings trip deprecation warnings on every cold build.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: all build test unit e2e bench-e2e demo cluster-up cluster-down tools bench lint verify-pins fmt clean

all: lint build

## build: the zz binaries into _output/bin
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./plugins/kubectl-zz ./extender/cmd/zz-extender
	# NVML is loaded with dlopen: the device plugin needs cgo.
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./deviceplugin/cmd/zz-device-plugin
	$(GO) build ./...

## test: lint, build, unit tests with -race, then the e2e suite on a local cluster
test: lint build unit e2e

unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)

## e2e: start (or reuse) the local cluster, run the e2e suite, stop what it started
e2e: tools
	E2E_TIMEOUT=$(E2E_TIMEOUT) hack/e2e.sh

## tools: build the test cluster's binaries (cached; rebuilt when a pin changes)
tools:
	hack/build-tools.sh

## demo: bring the local cluster up and show it (builds everything it needs)
demo:
	hack/demo.sh

cluster-up:
	hack/cluster-up.sh

cluster-down:
	hack/cluster-down.sh

## bench: every Go benchmark, with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(UNIT_PKGS)

## bench-e2e: scheduling throughput and balance, zz-scheduler vs default-scheduler, on the local cluster
bench-e2e: tools
	ZZ_BENCH=1 hack/e2e.sh -run TestBenchScheduling

## lint: gofmt, go vet, and the Kubernetes pins
lint: verify-pins
	@out="$$(gofmt -l $$(find . -name '*.go' -not -path './_output/*' -not -path './.git/*'))"; \
	  if [ -n "$$out" ]; then echo "error: gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	bash -n hack/*.sh

verify-pins:
	hack/verify-pins.sh

fmt:
	gofmt -w $$(find . -name '*.go' -not -path './_output/*' -not -path './.git/*')

clean: cluster-down
	rm -rf _output
