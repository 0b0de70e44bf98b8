#!/usr/bin/env bash
# Build CPython from a Debian suite's upstream source tarball and install it
# into a prefix: 3.13 from trixie (the sys.monitoring tracer), 3.9 from
# bullseye (the oldest interpreter the plugin supports; no Debian release
# that is still served packages 3.10).
#
# Usage: [FB_CPYTHON_SERIES=3.9] bash tests/support/build_cpython.sh [PREFIX]
#
#   PREFIX defaults to "${FB_CPYTHON_PREFIX:-$HOME/.cache/featurebench/cpython-SERIES}".
#
# On success the absolute path of the interpreter (PREFIX/bin/pythonSERIES) is
# the LAST line on stdout and the exit status is 0. Everything else (progress,
# compiler output) goes to stderr or to the build log "PREFIX.build.log".
#
# Properties:
#   * Idempotent: if PREFIX/.fb-complete exists and PREFIX/bin/pythonSERIES can
#     import sys, ssl, sqlite3, zlib, ctypes and venv and is SERIES, the script
#     prints the path and exits straight away (no network, no lock needed).
#   * Concurrency-safe: builds are serialized with flock on "PREFIX.lock"; a
#     caller that waited for the lock re-checks and reuses the finished build.
#   * Crash-safe: PREFIX is only "done" once PREFIX/.fb-complete is written
#     (after every check has passed). A PREFIX left without the marker by an
#     interrupted build (recognized by PREFIX/.fb-building) is removed and
#     rebuilt. A non-empty PREFIX that was not made by this script is never
#     deleted; the script refuses instead.
#
# Source: the pythonSERIES stanza of the suite's Sources.xz gives Directory
# and Checksums-Sha256; the *.orig.tar.xz (plain upstream source, Debian
# patches are not applied) is downloaded and its sha256 checked.
#
# Environment knobs (all optional):
#   FB_CPYTHON_SERIES        3.13 (default) or 3.9
#   FB_CPYTHON_PREFIX        default prefix (see above)
#   FB_DEBIAN_MIRROR         default http://deb.debian.org/debian
#   FB_DEBIAN_SUITE          default trixie for 3.13, bullseye for 3.9
#   FB_CPYTHON_BUILD_ROOT    where the temporary build dir is made (default $TMPDIR or /tmp)
#   FB_CPYTHON_JOBS          make -j value (default: nproc)
#   FB_CPYTHON_LOCK_TIMEOUT  seconds to wait for the lock (default 7200)
#   FB_CPYTHON_VERBOSE=1     also stream configure/make output to stderr

set -Eeuo pipefail
umask 022

# Keep the caller's Python settings away from the build and the checks.
unset PYTHONHOME PYTHONPATH PYTHONSTARTUP PYTHONUSERBASE PYTHONNOUSERSITE \
      PYTHONSAFEPATH PYTHONEXECUTABLE PYTHONPLATLIBDIR PIP_REQUIRE_VIRTUALENV \
      VIRTUAL_ENV CONFIG_SITE 2>/dev/null || true
export LC_ALL=C

PY_SERIES="${FB_CPYTHON_SERIES:-3.13}"
case "$PY_SERIES" in
    3.13) DEFAULT_SUITE=trixie ;;
    3.9) DEFAULT_SUITE=bullseye ;;
    *) echo "FB_CPYTHON_SERIES: 3.13 or 3.9, not '$PY_SERIES'" >&2; exit 2 ;;
esac
SRC_PACKAGE="python${PY_SERIES}"
MIRROR="${FB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
MIRROR="${MIRROR%/}"
SUITE="${FB_DEBIAN_SUITE:-$DEFAULT_SUITE}"
SOURCES_URL="${MIRROR}/dists/${SUITE}/main/source/Sources.xz"
BUILD_DEPS=(build-essential pkg-config libssl-dev zlib1g-dev libffi-dev
            libsqlite3-dev libbz2-dev liblzma-dev libreadline-dev uuid-dev
            xz-utils curl)

log()  { printf '[build_cpython %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- prefix ---
if [ "$#" -gt 1 ]; then
    die "usage: bash $0 [PREFIX]"
fi
PREFIX="${1:-${FB_CPYTHON_PREFIX:-$HOME/.cache/featurebench/cpython-${PY_SERIES}}}"
[ -n "$PREFIX" ] || die "empty PREFIX"
case "$PREFIX" in
    /*) ;;
    *) PREFIX="$PWD/$PREFIX" ;;
esac
# Normalize (no need for the path to exist); strip trailing slashes.
PREFIX="$(realpath -m -- "$PREFIX")"
case "$PREFIX" in
    /|/usr|/usr/local|/opt|/home|/root|/tmp|/var|/etc|"$HOME")
        die "refusing to use '$PREFIX' as prefix (it may be deleted on rebuild)" ;;
esac
if [[ "$PREFIX" =~ [[:space:]\'\"\$\`\\:] ]]; then
    die "PREFIX must not contain whitespace, quotes, '\$', '\\', ':' or backquotes: '$PREFIX'"
fi

PY="$PREFIX/bin/python${PY_SERIES}"
MARKER="$PREFIX/.fb-complete"
BUILDING="$PREFIX/.fb-building"
LOCKFILE="$PREFIX.lock"
BUILD_LOG="$PREFIX.build.log"
CHECK_CODE="import sys, ssl, sqlite3, zlib, ctypes, venv; assert sys.version_info[:2]==(${PY_SERIES/./,})"

is_complete() {
    [ -f "$MARKER" ] && [ -x "$PY" ] && "$PY" -c "$CHECK_CODE" >/dev/null 2>&1
}

# ------------------------------------------------------------- fast path ---
if is_complete; then
    printf '%s\n' "$PY"
    exit 0
fi

# ----------------------------------------------------------------- lock ---
mkdir -p "$(dirname "$PREFIX")"
exec 9>>"$LOCKFILE"
log "acquiring lock $LOCKFILE"
if ! flock -w "${FB_CPYTHON_LOCK_TIMEOUT:-7200}" 9; then
    die "timed out waiting for $LOCKFILE"
fi
# Somebody else may have finished the build while we were waiting.
if is_complete; then
    log "another process completed the build"
    printf '%s\n' "$PY"
    exit 0
fi

START_TS=$(date +%s)
WORKDIR=""
cleanup() {
    local rc=$?
    if [ -n "$WORKDIR" ] && [ -d "$WORKDIR" ]; then
        rm -rf -- "$WORKDIR"
    fi
    if [ "$rc" -ne 0 ]; then
        if [ -s "$BUILD_LOG" ]; then
            log "FAILED (exit $rc); build log: $BUILD_LOG"
        else
            log "FAILED (exit $rc)"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ----------------------------------------------------------- build deps ---
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

missing=()
for pkg in "${BUILD_DEPS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing missing build dependencies: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
        || die "apt-get update failed (need root or passwordless sudo); missing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install failed for: ${missing[*]}"
else
    log "all build dependencies present"
fi

# --------------------------------------------------------- prepare prefix ---
if [ -e "$PREFIX" ] || [ -L "$PREFIX" ]; then
    if [ -f "$BUILDING" ] || [ -f "$MARKER" ]; then
        log "removing stale/incomplete prefix $PREFIX"
        rm -rf -- "$PREFIX"
    elif [ -d "$PREFIX" ] && [ -z "$(ls -A -- "$PREFIX")" ]; then
        rmdir -- "$PREFIX"
    else
        die "$PREFIX exists, is not empty and was not created by this script; remove it or choose another prefix"
    fi
fi

# ------------------------------------------------------------- workspace ---
BUILD_ROOT="${FB_CPYTHON_BUILD_ROOT:-${TMPDIR:-/tmp}}"
mkdir -p "$BUILD_ROOT"
WORKDIR="$(mktemp -d "$BUILD_ROOT/fb-cpython-build.XXXXXXXX")"
: >"$BUILD_LOG"
log "work dir: $WORKDIR; build log: $BUILD_LOG"

fetch() { # url dest
    curl -fsSL --retry 5 --retry-delay 3 --retry-connrefused \
         --connect-timeout 30 -o "$2" "$1"
}

# --------------------------------------------------- locate the source ---
log "downloading $SOURCES_URL"
fetch "$SOURCES_URL" "$WORKDIR/Sources.xz" || die "cannot download $SOURCES_URL"

# One line per "Package: pythonSERIES" stanza: VERSION DIRECTORY SHA256 SIZE FILE
# (FILE is the *.orig.tar.xz entry of Checksums-Sha256).
xz -dc "$WORKDIR/Sources.xz" | awk -v pkg="$SRC_PACKAGE" '
    function flush() {
        if (p == pkg && ver != "" && dir != "" && sha != "")
            print ver, dir, sha, size, file
        p = ""; ver = ""; dir = ""; sha = ""; size = ""; file = ""; insha = 0
    }
    /^$/                  { flush(); next }
    /^Package:/           { p = $2; insha = 0; next }
    /^Version:/           { ver = $2; insha = 0; next }
    /^Directory:/         { dir = $2; insha = 0; next }
    /^Checksums-Sha256:/  { insha = 1; next }
    /^[ \t]/ {
        if (insha && $3 ~ /\.orig\.tar\.xz$/) { sha = $1; size = $2; file = $3 }
        next
    }
    { insha = 0 }
    END { flush() }
' >"$WORKDIR/candidates.txt"

[ -s "$WORKDIR/candidates.txt" ] \
    || die "no '$SRC_PACKAGE' stanza with an .orig.tar.xz found in $SOURCES_URL"

# Pick the highest Debian version if there is more than one stanza.
best=""
best_ver=""
while read -r ver dir sha size file; do
    if [ -z "$best_ver" ] || dpkg --compare-versions "$ver" gt "$best_ver"; then
        best_ver="$ver"
        best="$ver $dir $sha $size $file"
    fi
done <"$WORKDIR/candidates.txt"
read -r DEB_VERSION SRC_DIR SRC_SHA256 SRC_SIZE SRC_FILE <<<"$best"

[[ "$SRC_SHA256" =~ ^[0-9a-f]{64}$ ]] || die "bad sha256 '$SRC_SHA256' in Sources"
[[ "$SRC_FILE" =~ ^[A-Za-z0-9.+~_-]+$ ]] || die "suspicious file name '$SRC_FILE'"
[[ "$SRC_DIR" =~ ^pool/[A-Za-z0-9.+~_/-]+$ ]] || die "suspicious directory '$SRC_DIR'"
log "selected $SRC_PACKAGE $DEB_VERSION ($SRC_DIR/$SRC_FILE, $SRC_SIZE bytes)"

# ------------------------------------------------------ fetch + verify ---
TARBALL="$WORKDIR/$SRC_FILE"
log "downloading $MIRROR/$SRC_DIR/$SRC_FILE"
fetch "$MIRROR/$SRC_DIR/$SRC_FILE" "$TARBALL" || die "download of $SRC_FILE failed"
actual_sha="$(sha256sum "$TARBALL" | cut -d' ' -f1)"
[ "$actual_sha" = "$SRC_SHA256" ] \
    || die "sha256 mismatch for $SRC_FILE: expected $SRC_SHA256, got $actual_sha"
log "sha256 OK ($actual_sha)"

mkdir -p "$WORKDIR/src"
tar -xJf "$TARBALL" -C "$WORKDIR/src" --no-same-owner
SRCDIR="$(find "$WORKDIR/src" -mindepth 1 -maxdepth 2 -type f -name configure -printf '%h\n' | head -n1)"
[ -n "$SRCDIR" ] && [ -f "$SRCDIR/Include/patchlevel.h" ] || die "unpacked tarball has no CPython source tree"
UPSTREAM_VERSION="$(sed -n 's/^#define PY_VERSION[[:space:]]*"\(.*\)"/\1/p' "$SRCDIR/Include/patchlevel.h")"
case "$UPSTREAM_VERSION" in
    "$PY_SERIES".*) ;;
    *) die "unexpected upstream version '$UPSTREAM_VERSION' (wanted $PY_SERIES.x)" ;;
esac
log "unpacked CPython $UPSTREAM_VERSION into $SRCDIR"
if ! ls "$SRCDIR"/Lib/ensurepip/_bundled/pip-*.whl >/dev/null 2>&1; then
    die "the tarball has no bundled pip wheel (Lib/ensurepip/_bundled); venv would lack pip"
fi

# ------------------------------------------------------------- build ---
run_logged() { # description, command...
    local desc="$1"; shift
    log "$desc"
    echo "=== $desc: $*" >>"$BUILD_LOG"
    local rc=0
    if [ "${FB_CPYTHON_VERBOSE:-0}" = 1 ]; then
        "$@" 2>&1 | tee -a "$BUILD_LOG" >&2 || rc=$?
    else
        "$@" >>"$BUILD_LOG" 2>&1 || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        log "'$desc' failed (exit $rc); last lines of $BUILD_LOG:"
        tail -n 60 "$BUILD_LOG" >&2 || true
        exit "$rc"
    fi
}

JOBS="${FB_CPYTHON_JOBS:-$(nproc 2>/dev/null || echo 2)}"
cd "$SRCDIR"
run_logged "configure" ./configure \
    --prefix="$PREFIX" \
    --enable-shared \
    --with-ensurepip=install \
    "LDFLAGS=-Wl,-rpath,$PREFIX/lib"
run_logged "make -j$JOBS" make -j"$JOBS"

# Warn loudly about optional extension modules that could not be built.
if grep -qE 'necessary bits to build these optional modules were not found|Failed to build these modules|Following modules built successfully but were removed' "$BUILD_LOG"; then
    log "warning: some optional modules are missing:"
    grep -A4 -E 'necessary bits to build these optional modules were not found|Failed to build these modules|Following modules built successfully but were removed' "$BUILD_LOG" >&2 || true
fi

# ----------------------------------------------------------- install ---
mkdir -p "$PREFIX"
printf 'started %s pid %s\n' "$(date -u +%FT%TZ)" "$$" >"$BUILDING"
run_logged "make altinstall" make altinstall

# ------------------------------------------------------------ verify ---
[ -x "$PY" ] || die "$PY was not installed"
# Convenience symlinks inside the prefix (altinstall does not create them).
ln -sfn "python${PY_SERIES}" "$PREFIX/bin/python3"
if [ -e "$PREFIX/bin/pip${PY_SERIES}" ]; then
    ln -sfn "pip${PY_SERIES}" "$PREFIX/bin/pip3"
fi

log "verifying the installation"
"$PY" - >&2 <<PYEOF || die "post-install verification failed"
import sys
assert sys.version_info[:2] == (${PY_SERIES/./,}), sys.version
assert sys.prefix == "$PREFIX", sys.prefix
import ssl, sqlite3, zlib, ctypes, venv, bz2, lzma, readline, uuid, _uuid
import hashlib, ensurepip, _ctypes, _decimal, _json, _pickle, _socket, select
ctx = ssl.create_default_context()
assert ctx.verify_mode == ssl.CERT_REQUIRED
ctypes.CDLL(None)
sqlite3.connect(":memory:").execute("select 1").fetchone()
print("verified", sys.version.split()[0], ssl.OPENSSL_VERSION, "sqlite", sqlite3.sqlite_version)
PYEOF

# The interpreter must run without LD_LIBRARY_PATH (rpath).
env -u LD_LIBRARY_PATH "$PY" -c 'import sys' || die "interpreter does not run without LD_LIBRARY_PATH (rpath missing?)"
if command -v ldd >/dev/null 2>&1; then
    ldd "$PY" | grep -q "$PREFIX/lib/libpython${PY_SERIES}" \
        || die "$PY does not resolve libpython from $PREFIX/lib"
fi

# venv + ensurepip must work.
"$PY" -m venv "$WORKDIR/venv-check" >&2 || die "'python -m venv' failed"
"$WORKDIR/venv-check/bin/python" -m pip --version >&2 || die "pip missing from a fresh venv"

printf 'debian_source=%s %s\nupstream=%s\nsha256=%s\nbuilt=%s\nbuild_seconds=%s\n' \
    "$SRC_PACKAGE" "$DEB_VERSION" "$UPSTREAM_VERSION" "$SRC_SHA256" \
    "$(date -u +%FT%TZ)" "$(( $(date +%s) - START_TS ))" >"$MARKER.tmp"
mv -f -- "$MARKER.tmp" "$MARKER"
rm -f -- "$BUILDING"
sync "$MARKER" 2>/dev/null || true

is_complete || die "final check failed"
log "done: CPython $UPSTREAM_VERSION (Debian $DEB_VERSION) in $PREFIX after $(( $(date +%s) - START_TS ))s"
printf '%s\n' "$PY"
