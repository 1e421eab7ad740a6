# syntax=docker/dockerfile:1
# Vigie ingest: cameras and citizen media -> frames (PyAV, aiortc; no torch).
# Slim, multi-stage, non-root (UID 10001); the chart runs it with a read-only root filesystem.
# Build from the repository root (the context needs libs/ and constraints.txt):
#   docker build -f deploy/docker/ingest.Dockerfile -t vigie-ingest:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG GO_IMAGE=golang:1.26-bookworm

# grpc-health-probe: the chart's startup and readiness probes (gRPC health over TLS).
FROM ${GO_IMAGE} AS probe
ARG GRPC_HEALTH_PROBE_VERSION=v0.4.62
ENV CGO_ENABLED=0 GOBIN=/out GOFLAGS=-mod=mod
RUN go install -trimpath -ldflags "-s -w" \
      "github.com/grpc-ecosystem/grpc-health-probe@${GRPC_HEALTH_PROBE_VERSION}"

# The virtual environment, with exactly the versions CI tests (constraints.txt).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install uv==0.13.8 && uv venv /opt/vigie
WORKDIR /src
COPY constraints.txt overrides.txt ./
COPY libs/proto libs/proto
COPY libs/core libs/core
COPY services/ingest services/ingest
RUN uv pip install --python /opt/vigie/bin/python --no-cache -c constraints.txt \
      --override overrides.txt ./libs/proto ./libs/core ./services/ingest

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 vigie \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin vigie \
 && mkdir -p /var/lib/vigie/data /var/lib/vigie/models \
 && chown -R 10001:10001 /var/lib/vigie
COPY --from=build /opt/vigie /opt/vigie
COPY --from=probe /out/grpc-health-probe /usr/local/bin/grpc-health-probe
ENV PATH=/opt/vigie/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp \
    VIGIE_DATA_DIR=/var/lib/vigie/data VIGIE_MODELS_DIR=/var/lib/vigie/models
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 50051
CMD ["vigie", "serve", "ingest"]
