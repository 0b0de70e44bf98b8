#!/usr/bin/env bash
# Debian packages the test suite needs that a fresh machine may lack:
# bubblewrap runs the projects under test without network. (docker.io is
# installed by the Docker tests' own fixture; CPython 3.13 by build_cpython.sh.)
set -euo pipefail
missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install_system_deps: need root to install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q "${missing[@]}" >/dev/null
