# The pipeline's base image: a virtualenv at /opt/venv with pip and uv, on top of the
# registry-free Debian bookworm rootfs image (tests/support/dockerd.py: build_rootfs_image).
#
# Build with network_mode="host" (the engine has no bridge network) and
#   buildargs={"ROOTFS_IMAGE": "<imported tag>", "PYTHON_VERSION": "3.11"}
# Only Debian bookworm's python3 (3.11) exists offline here; other versions fail the build.
ARG ROOTFS_IMAGE
FROM ${ROOTFS_IMAGE}

ARG PYTHON_VERSION=3.11

RUN set -eu; \
    have="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; \
    case "$PYTHON_VERSION" in \
        "$have" | "$have".*) ;; \
        *) echo "base.Dockerfile: Python $PYTHON_VERSION was requested, but only Python" \
                "$have (Debian bookworm's python3) is available offline here" >&2; \
           exit 1 ;; \
    esac; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/python -m pip install --no-cache-dir --upgrade pip; \
    /opt/venv/bin/python -m pip install --no-cache-dir uv; \
    /opt/venv/bin/uv --version

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
WORKDIR /testbed
