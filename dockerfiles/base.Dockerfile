# The Docker backend's base image: a virtualenv at /opt/venv (on PATH) with pip and uv.
#
# orchestrator/environments/docker_base.py builds it with network_mode="host" and
#   buildargs={"ROOTFS_IMAGE": <$FBENCH_ROOTFS_IMAGE or debian:bookworm>,
#              "PYTHON_VERSION": <the spec's python_version>,
#              the host's proxies and package indexes (PIP_INDEX_URL, UV_INDEX_URL, ...),
#              and SSL_CERT_FILE and the like naming the host's CA bundle, which the
#              build context holds as ca-bundle.crt (empty when the host has none)}
# ROOTFS_IMAGE is an official Debian image or the registry-free bookworm rootfs that
# `fbench docker base` imports, which already has python3.
# The instance images (FROM this one) rely on /opt/venv and on WORKDIR /testbed.
ARG ROOTFS_IMAGE=debian:bookworm
FROM ${ROOTFS_IMAGE}

ARG PYTHON_VERSION=3.11
# For the RUN steps only: an ARG is not part of the image's configuration.
ARG SSL_CERT_FILE
ARG REQUESTS_CA_BUNDLE
ARG PIP_CERT
ARG CURL_CA_BUNDLE
ARG GIT_SSL_CAINFO
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG UV_INDEX_URL
ARG UV_EXTRA_INDEX_URL
ARG UV_DEFAULT_INDEX
COPY ca-bundle.crt /usr/local/share/featurebench/ca-bundle.crt

# An official debian image has no Python at all; the imported rootfs has it, and apt
# would need the network for nothing.
RUN set -eu; \
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then \
        apt-get update -qq; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3 python3-venv ca-certificates git; \
        rm -rf /var/lib/apt/lists/*; \
    fi

# Debian's python3 when it is the requested version; any other version comes from uv's
# managed builds, which needs a network that reaches them.
RUN set -eu; \
    have="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; \
    case "$PYTHON_VERSION" in \
        "$have" | "$have".*) python3 -m venv /opt/venv ;; \
        *) python3 -m venv /opt/uv-tool; \
           /opt/uv-tool/bin/python -m pip install --no-cache-dir -q uv; \
           UV_PYTHON_INSTALL_DIR=/opt/python /opt/uv-tool/bin/uv venv --seed \
               --python "$PYTHON_VERSION" /opt/venv \
           || { echo "base.Dockerfile: Python $PYTHON_VERSION was requested; the image" \
                     "has Python $have and uv could not download $PYTHON_VERSION" >&2; \
                exit 1; }; \
           rm -rf /opt/uv-tool ;; \
    esac; \
    /opt/venv/bin/python -m pip install --no-cache-dir -q --upgrade pip uv; \
    /opt/venv/bin/uv --version

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /testbed
