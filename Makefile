# The one place that knows the build tags. containers/image builds without C libraries
# only with these: OpenPGP through go-crypto instead of gpgme, and no containers-storage,
# docker-daemon or btrfs back ends (tmsync talks to registries only).
TAGS := containers_image_openpgp containers_image_storage_stub containers_image_docker_daemon_stub exclude_graphdriver_btrfs
GO ?= go
GOTAGS := -tags "$(TAGS)"
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/tmsync/tmsync/tmsync.Version=$(VERSION)
# Packages whose tests run in `make test`; TESTFLAGS adds flags (e.g. -run, -v).
PKGS ?= ./...
TESTFLAGS ?=

.PHONY: all build dist image test test-race test-unit test-infra deps deps-tflint lint demo bench clean fmt

all: build

build:
	$(GO) build $(GOTAGS) -ldflags "$(LDFLAGS)" -o bin/tmsync ./cmd/tmsync

# The release artifact: static reproducible binaries for linux/amd64 and linux/arm64, a
# CycloneDX SBOM of each, SHA256SUMS, in $(DIST)/ (scripts/dist.sh says how).
DIST ?= dist
dist:
	@TAGS="$(TAGS)" VERSION="$(VERSION)" LDFLAGS="$(LDFLAGS)" GO="$(GO)" DIST="$(DIST)" bash scripts/dist.sh

# The container image (multi-arch OCI index) from the dist binaries, built in Go without a
# Docker engine (internal/dist): an OCI layout in $(DIST)/image; IMAGE_PUSH=host/repo:tag
# also pushes it.
IMAGE_PUSH ?=
# File and config times of the image: the commit's time, so a rebuild gives the same digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image: dist
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./internal/dist/mkimage -dist $(DIST) -version "$(VERSION)" \
		-revision "$$(git rev-parse HEAD 2>/dev/null || echo unknown)" -out $(DIST)/image $(if $(IMAGE_PUSH),-push $(IMAGE_PUSH))

# deps installs what the integration tests start (docker-registry, gpg, moto_server)
# when it is missing and this user can install it.
deps:
	@bash scripts/deps.sh

test: deps
	$(GO) test $(GOTAGS) -count=1 -timeout 20m $(TESTFLAGS) $(PKGS)

# Unit tests only: no process is started (integration tests skip).
test-unit:
	TMSYNC_INTEGRATION=skip $(GO) test $(GOTAGS) -short -count=1 $(TESTFLAGS) $(PKGS)

# The pipeline's Terraform and buildspecs (infra/): fmt, init+validate, tflint when
# installed, apply + empty plan against moto_server. Also part of `make test`.
test-infra: deps
	$(GO) test $(GOTAGS) -count=1 -timeout 15m $(TESTFLAGS) ./infra/...

# tflint for TestTFLint (go install; minutes). Not in deps by default: it is slow to build.
deps-tflint:
	@bash scripts/install-tflint.sh

test-race: deps
	$(GO) test $(GOTAGS) -race -count=1 -timeout 30m $(TESTFLAGS) $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(GOTAGS) ./...
	@if command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest >/dev/null 2>&1; then \
		PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(GOTAGS) ./...; \
	else echo "staticcheck could not be installed; skipped"; fi

# The main job, `tmsync sync`, on a local world in one process (examples/clidemo): no AWS
# account, no network. Its files go to $(DEMO_DIR); DEMO_KEEP=1 keeps the world up until
# Ctrl-C and prints bin/tmsync commands to try against it.
DEMO_DIR ?= demo-run
DEMO_KEEP ?=
# (No -ldflags for go run: its binary stays cached when only the version changes; its
# reports say version dev.)
demo: build
	$(GO) run $(GOTAGS) ./examples/clidemo -dir "$(DEMO_DIR)" -tmsync bin/tmsync $(if $(DEMO_KEEP),-keep)

# Benchmarks against skopeo, crane and regsync (issue 8): installs the peers, builds
# tmsync, writes docs/benchmarks.md and .json. BENCHFLAGS=-quick for a smoke run.
BENCHFLAGS ?=
bench: deps
	@TAGS="$(TAGS)" bash bench/run.sh $(BENCHFLAGS)

clean:
	rm -rf bin dist
