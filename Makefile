# firmflow developer commands. Everything runs offline once Go modules are cached.
SHELL := /bin/bash
BIN := $(CURDIR)/.bin
# Every module of go.work, by directory: patterns like ./services/... stop at module borders.
PACKAGES = $(shell go list -m -f '{{.Dir}}/...')
# Tests spend most of their time waiting on PostgreSQL, NATS and timers, not on the
# CPU: four packages at once and eight parallel tests each (go test's default is one
# per core, two here) took a full run from 173 s to 127 s on a 2-core machine.
GO_TEST_FLAGS ?= -count=1 -timeout 20m -p 4 -parallel 8
# npm ci's record of what it installed, from each package-lock.json (see node).
REDOCLY_DEPS := tools/redocly/node_modules/.package-lock.json
SDK_DEPS := clients/typescript/node_modules/.package-lock.json

.PHONY: run test gen check-gen lint bench fuzz tools node fmt backup-drill

## run: start every service in one process (PostgreSQL must be running; NATS is embedded unless FIRMFLOW_NATS_URL is set; Mailpit catches the mail)
run: tools
	FIRMFLOW_MAILPIT=$(BIN)/mailpit go run ./cmd/firmflow dev

## test: every unit, integration and end-to-end test; billing's run against the pinned stripe-mock, the
## TypeScript client's (clients/typescript) against a stack of its own
test: tools $(SDK_DEPS)
	cd tools && GOWORK=off go test $(GO_TEST_FLAGS) ./protoc-gen-openapi31/
	FIRMFLOW_STRIPE_MOCK=$(BIN)/stripe-mock go test $(GO_TEST_FLAGS) $(PACKAGES)

## backup-drill: back up a private PostgreSQL cluster running the system (pgBackRest, encrypted repository),
## restore it to a random point in time and check it; sets up and tears down everything it uses
backup-drill: tools
	FIRMFLOW_STRIPE_MOCK=$(BIN)/stripe-mock go run ./cmd/firmflow backup drill --private \
	  --record .data/backup/last-drill.json --metrics .data/backup/firmflow_backup.prom

## tools: build the tools pinned in tools/go.mod (buf, the protoc plugins, staticcheck, stripe-mock, mailpit) into .bin/
TOOLS := $(addprefix $(BIN)/,buf protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapi31 staticcheck stripe-mock mailpit)
tools: $(TOOLS)
$(TOOLS) &: tools/go.mod tools/go.sum $(wildcard tools/protoc-gen-openapi31/*.go)
	cd tools && GOWORK=off go build -o $(BIN)/ tool
	@touch $(TOOLS)

## node: install the pinned npm packages (package-lock.json) of the Redocly linter and the TypeScript client
## once, and again when a lock file changes; everything after runs offline
node: $(REDOCLY_DEPS) $(SDK_DEPS)
$(REDOCLY_DEPS): tools/redocly/package-lock.json
	cd tools/redocly && npm ci --no-audit --no-fund
$(SDK_DEPS): clients/typescript/package-lock.json
	cd clients/typescript && npm ci --no-audit --no-fund

## gen: regenerate pkg/gen from proto/ (offline: local plugins, vendored protos) and the TypeScript client's
## types from the OpenAPI document
gen: tools $(SDK_DEPS)
	find pkg/gen -name '*.pb.go' -o -name '*.pb.gw.go' -o -name 'firmflow.openapi.*' | xargs -r rm -f
	$(BIN)/buf generate
	cd clients/typescript && node_modules/.bin/openapi-typescript ../../pkg/gen/openapi/firmflow.openapi.json -o src/schema.ts

## check-gen: fail when committed generated code differs from what gen writes
GENERATED := pkg/gen clients/typescript/src/schema.ts
check-gen: gen
	@git diff --exit-code --stat -- $(GENERATED) || (echo "generated code is stale: run make gen and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain -- $(GENERATED))" || (git status --porcelain -- $(GENERATED); echo "there are untracked generated files: run make gen and commit" >&2; exit 1)

## lint: gofmt, buf lint, buf breaking against the previous commit (BREAKING_AGAINST), go vet, staticcheck,
## Redocly on the OpenAPI document (tools/redocly/redocly.yaml: its recommended rules, exceptions with reasons)
lint: tools $(REDOCLY_DEPS)
	@unformatted=$$(gofmt -l cmd deploy pkg services tools | grep -v '^pkg/gen/'); \
	  test -z "$$unformatted" || { echo "not gofmt-ed (run make fmt):" >&2; echo "$$unformatted" >&2; exit 1; }
	$(BIN)/buf lint
	BUF=$(BIN)/buf .ci/breaking
	go vet $(PACKAGES)
	$(BIN)/staticcheck $(PACKAGES)
	cd tools && GOWORK=off go vet ./protoc-gen-openapi31/ && GOWORK=off $(BIN)/staticcheck ./protoc-gen-openapi31/
	@# Warnings fail too: each is fixed in the generator or turned off in redocly.yaml with a reason.
	@out=$$(REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true tools/redocly/node_modules/.bin/redocly lint \
	  --config tools/redocly/redocly.yaml --format=summary pkg/gen/openapi/firmflow.openapi.json pkg/gen/openapi/firmflow.openapi.yaml 2>&1) \
	  || { echo "$$out" >&2; exit 1; }; \
	  if grep -qE '^(warning|error) ' <<<"$$out"; then echo "$$out" >&2; echo "Redocly: fix the warnings above or turn the rule off with a reason" >&2; exit 1; fi; \
	  echo "redocly lint: 0 errors, 0 warnings"

## bench: benchmarks with figures against in-process baselines
bench:
	go test -run '^$$' -bench . -benchmem $(PACKAGES)

## fuzz: run every Go fuzz target (func Fuzz... in a _test.go) for FUZZTIME each (make test runs their seed
## corpora), then HOSTILE_REQUESTS generated hostile requests over every REST operation of a running stack
FUZZTIME ?= 30s
HOSTILE_REQUESTS ?= 100000
fuzz: tools
	set -o pipefail; FIRMFLOW_HOSTILE_REQUESTS=$(HOSTILE_REQUESTS) FIRMFLOW_STRIPE_MOCK=$(BIN)/stripe-mock go test -count=1 -timeout 3h \
	  -run '^TestHostileInputOverEveryOperation$$' -v ./cmd/firmflow/internal/e2e/ | grep -E '^(---|ok|FAIL)|hostile_test'
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' cmd pkg services | sort | while read -r file; do \
	  for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
	    echo "== $$target ($$(dirname $$file))"; \
	    FIRMFLOW_STRIPE_MOCK=$(BIN)/stripe-mock go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./$$(dirname $$file); \
	  done; \
	done

fmt:
	@files=$$(gofmt -l cmd deploy pkg services tools | grep -v '^pkg/gen/'); test -z "$$files" || gofmt -w $$files
