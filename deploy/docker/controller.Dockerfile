# syntax=docker/dockerfile:1
# Vigie controller: Camera and Rule resources -> vigie.cameras.v1 / vigie.rules.v1 (no torch).
# Slim, multi-stage, non-root (UID 10001). Build from the repository root:
#   docker build -f deploy/docker/controller.Dockerfile -t vigie-controller:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install uv==0.13.8 && uv venv /opt/vigie
WORKDIR /src
COPY constraints.txt overrides.txt ./
COPY libs/proto libs/proto
COPY libs/core libs/core
# Rule resources are checked by the rules service's own spec code.
COPY services/rules services/rules
COPY deploy/controller deploy/controller
RUN uv pip install --python /opt/vigie/bin/python --no-cache -c constraints.txt \
      --override overrides.txt ./libs/proto ./libs/core ./services/rules ./deploy/controller

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 vigie \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin vigie
COPY --from=build /opt/vigie /opt/vigie
ENV PATH=/opt/vigie/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
CMD ["python", "-m", "vigie_controller"]
