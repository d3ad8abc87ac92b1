# zz — see README.md. Every target works on a fresh machine: tools are built
# from Go modules by hack/ and cached in _output/.

GO        ?= go
BIN       := _output/bin
# A semantic version (krew and image tags need one): the nearest v* tag, or v0.0.0-g<commit>.
VERSION   ?= $(shell hack/version.sh)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Every timestamp in images and release archives: the commit's time, so a commit
# always builds the same bytes (and the same sha256 in the krew manifest).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
LDFLAGS   := -s -w -X github.com/zzcloud/zz/internal/version.gitVersion=$(VERSION) \
             -X github.com/zzcloud/zz/internal/version.gitCommit=$(COMMIT)
# Unit tests: every package but the e2e suite (its framework's own tests included).
UNIT_PKGS  = $(shell $(GO) list ./... | grep -v '/test/e2e$$')
E2E_TIMEOUT ?= 30m
# Tool modules with code of their own (vetted and unit-tested with the product).
TOOL_MODS := hack/tools/images hack/tools/release hack/tools/helm hack/tools/promcheck test/e2e/fakecri
# make images: the server images, one multi-arch index each (see README, Images).
IMAGES     := zz-extender zz-webhook zz-device-plugin
# linux/arm64's cgo device plugin needs Debian's cross toolchain: hack/cross-toolchain.sh
# installs it with apt on first use. make test builds linux/amd64 only (no apt in CI's path).
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
comma      := ,
IMAGE_REPO ?= zzcloud
IMAGE_DIR  ?= _output/images
# make release: kubectl-zz archives and the krew manifest.
RELEASE_PLATFORMS ?= linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64
RELEASE_DIR       ?= _output/release
KREW_MANIFEST     ?= krew/zz.yaml
# Where the release's images are pushed: install.yaml and the chart name them so.
RELEASE_IMAGE_REPO ?= ghcr.io/zzcloud
# go-nvml's cgo bindings trip deprecation warnings on every cold build.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: all build images release test unit e2e bench-e2e bench-packing demo cluster-up cluster-down tools bench lint verify-pins fmt clean

all: lint build

## build: the zz binaries into _output/bin
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./plugins/kubectl-zz ./extender/cmd/zz-extender ./webhook/cmd/zz-webhook
	# NVML is loaded with dlopen: the device plugin needs cgo.
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./deviceplugin/cmd/zz-device-plugin
	$(GO) build ./...

## images: OCI images of the servers for $(IMAGE_PLATFORMS), built without Docker, into $(IMAGE_DIR) (NAME.tar for docker load, oci/ with one multi-arch index per image)
images:
	$(GO) build -C hack/tools/images -o $(CURDIR)/_output/tools/images .
	for p in $(subst $(comma), ,$(IMAGE_PLATFORMS)); do \
	  os=$${p%%/*}; arch=$${p##*/}; out=$(IMAGE_DIR)/$$os-$$arch; \
	  GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out/ ./extender/cmd/zz-extender ./webhook/cmd/zz-webhook || exit 1; \
	  cc=$$(hack/cross-toolchain.sh $$arch) || exit 1; \
	  echo "zz-device-plugin for $$p: CC=$$cc (NVML is loaded with dlopen: cgo, so glibc goes into the image too)"; \
	  CC=$$cc GOOS=$$os GOARCH=$$arch CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out/ ./deviceplugin/cmd/zz-device-plugin || exit 1; \
	  if grep -q 'deviceplugin/mocknvml' $$out/zz-device-plugin; then echo "error: $$out/zz-device-plugin links the mock NVML (built with -tags zzmock?)"; exit 1; fi; \
	done
	_output/tools/images -out $(IMAGE_DIR) -repo $(IMAGE_REPO) -version $(VERSION) -revision $(COMMIT) \
	  -source-date-epoch $(SOURCE_DATE_EPOCH) -platforms $(IMAGE_PLATFORMS) $(foreach i,$(IMAGES),$(i)=$(IMAGE_DIR)/{os}-{arch}/$(i))

## release: kubectl-zz archives for every platform into $(RELEASE_DIR), the krew manifest $(KREW_MANIFEST), each platform installed by krew; install.yaml and the Helm chart zz-<version>.tgz (images pinned by the digests make images recorded)
release:
	$(GO) build -C hack/tools/release -o $(CURDIR)/_output/tools/release .
	_output/tools/release -version $(VERSION) -ldflags '$(LDFLAGS)' -source-date-epoch $(SOURCE_DATE_EPOCH) \
	  -platforms $(RELEASE_PLATFORMS) -out $(RELEASE_DIR) -manifest $(KREW_MANIFEST)
	hack/verify-release.sh $(KREW_MANIFEST) $(RELEASE_DIR)
	$(GO) build -C hack/tools/helm -o $(CURDIR)/_output/tools/zz-install .
	_output/tools/zz-install -version $(VERSION) -image-repo $(RELEASE_IMAGE_REPO) -digests $(IMAGE_DIR)/digests.txt \
	  -source-date-epoch $(SOURCE_DATE_EPOCH) -out $(RELEASE_DIR)
	hack/verify-chart.sh $(RELEASE_DIR)/zz-$(patsubst v%,%,$(VERSION)).tgz

## test: lint, build, unit tests with -race, images, then the e2e suite on a local cluster
test: lint build unit images e2e
test: IMAGE_PLATFORMS = linux/amd64

unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)
	# The e2e tests' build of the device plugin (mock NVML linked in; the release's is without).
	$(GO) test -race -count=1 -tags zzmock -run TestNewNVML ./deviceplugin/
	for m in $(TOOL_MODS); do (cd $$m && $(GO) test -race -count=1 ./...) || exit 1; done

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

## bench-packing: GPU packing families (steady, churn, adversarial, multi-card), zz binpack vs the previous binpack, FGD, best-fit, first-fit, spread;
## then binpack on a 100-node window (the shipped profile's sampling) vs every node, on 8 times the cluster (ZZ_PACKING_SCALE); about 35 s
bench-packing:
	@out="$$(ZZ_PACKING_SCALE=$${ZZ_PACKING_SCALE:-8} $(GO) test -count=1 -run '^(TestPackingFamilies|TestPackingSampled)$$' -v ./internal/gpushare/)"; rc=$$?; \
	  echo "$$out" | sed -n '/^ *|/p; /FAIL\|placed .* of the bound\|window placed/p'; exit $$rc

## bench-e2e: scheduling throughput and balance, and the job-site case (zz-scheduler vs default-scheduler, then kubectl zz rebalance carried out), on the local cluster
## (ZZ_BENCH_NODES/ZZ_BENCH_PODS size the throughput run, default 200/2000; ZZ_BENCH_JOBSITE_NODES, ZZ_BENCH_SEEDS the job site's, default 20/3)
bench-e2e: tools
	ZZ_BENCH=1 hack/e2e.sh -run 'TestBenchScheduling|TestBenchJobSite'

## lint: gofmt, go vet, the Kubernetes pins, helm lint and helm template of manifests/helm/zz
lint: verify-pins
	@out="$$(gofmt -l $$(find . -name '*.go' -not -path './_output/*' -not -path './.git/*'))"; \
	  if [ -n "$$out" ]; then echo "error: gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags zzmock ./deviceplugin/... ./test/e2e/...
	for m in $(TOOL_MODS); do (cd $$m && $(GO) vet ./...) || exit 1; done
	bash -n hack/*.sh
	hack/verify-chart.sh manifests/helm/zz

verify-pins:
	hack/verify-pins.sh

fmt:
	gofmt -w $$(find . -name '*.go' -not -path './_output/*' -not -path './.git/*')

clean: cluster-down
	rm -rf _output
