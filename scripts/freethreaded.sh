#!/usr/bin/env bash
# Build (once) and cache a free-threaded CPython (`./configure --disable-gil`) from Debian's
# source package, for gvlbench's `--python` tests and the free-threaded mode.
#
# Why from Debian's source package: packages here come from PyPI and Debian only, and no
# Debian release ships a free-threaded binary. Debian's orig tarball is CPython's release
# tarball; we build it as upstream does, without Debian's packaging patches.
#
# The machine's apt sources are left alone: a private apt configuration under the cache
# holds one deb-src line per suite, and `apt-get source --download-only` fetches the tarball.
#
#   scripts/freethreaded.sh            build or reuse; prints the interpreter's path (stdout)
#   GVLBENCH_CACHE=DIR                 where to cache (default ~/.cache/gvlbench)
#   GVLBENCH_FT_SOURCES="pkg/suite..." which source packages to try, best first
#
# Whatever stops the build (no network, no compiler, a failed configure), the reason is
# written in one line to $CACHE/freethreaded.unavailable, which the tests quote when they
# skip; the script itself then exits 0 so `make test` goes on without it.
set -uo pipefail

CACHE=${GVLBENCH_CACHE:-$HOME/.cache/gvlbench}
SOURCES=${GVLBENCH_FT_SOURCES:-"python3.14/forky python3.13/trixie"}
PREFIX=$CACHE/cpython-ft
MARK=$CACHE/freethreaded.unavailable
LOG=$CACHE/freethreaded-build.log
LOCK=$CACHE/freethreaded.lock
mkdir -p "$CACHE"

# One build per cache at a time: a second `make test` (another checkout on this machine) waits
# here for the first, then reuses its interpreter, instead of deleting the source tree the
# first is building in. The lock is held by descriptor 9 until this script and every process
# it started (configure, make) have ended.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$LOCK"
  if ! flock -n 9; then
    echo "waiting for another build of the free-threaded CPython to finish (lock: $LOCK)" >&2
    flock 9
  fi
fi

is_free_threaded() {
  [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if not sys._is_gil_enabled() else 1)' 2>/dev/null
}

unavailable() {
  echo "$1" >"$MARK"
  echo "note: no free-threaded CPython: $1 (its tests skip; log: $LOG)" >&2
  exit 0
}

PY=$(ls "$PREFIX"/bin/python3.*t 2>/dev/null | head -n1)
if [ -n "$PY" ] && is_free_threaded "$PY"; then
  rm -f "$MARK"
  echo "$PY"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || unavailable "apt-get not found (Debian's source package is how it is built)"
command -v "${CC:-cc}" >/dev/null 2>&1 || unavailable "no C compiler (${CC:-cc})"

APT=$CACHE/apt
mkdir -p "$APT/lists/partial" "$APT/archives/partial"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
: >"$APT/sources.list"
for spec in $SOURCES; do
  echo "deb-src [signed-by=$KEYRING] http://deb.debian.org/debian ${spec#*/} main" >>"$APT/sources.list"
done
APTO=(-o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
      -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT" -o "APT::Sandbox::User=root")

echo "building a free-threaded CPython into $PREFIX (about 10 minutes on 2 cores; log: $LOG)" >&2
: >"$LOG"
apt-get "${APTO[@]}" update -qq >>"$LOG" 2>&1 || unavailable "apt-get update of the private deb-src list failed"

SRC=$CACHE/src
rm -rf "$SRC" && mkdir -p "$SRC"
got=
for spec in $SOURCES; do
  if (cd "$SRC" && apt-get "${APTO[@]}" source --download-only "$spec" >>"$LOG" 2>&1); then
    got=$spec
    break
  fi
done
[ -n "$got" ] || unavailable "none of the source packages $SOURCES could be fetched"
TARBALL=$(ls "$SRC"/*.orig.tar.* 2>/dev/null | head -n1)
[ -n "$TARBALL" ] || unavailable "$got has no orig tarball"
echo "source: $got ($(basename "$TARBALL"))" >&2
tar -C "$SRC" -xf "$TARBALL" >>"$LOG" 2>&1 || unavailable "cannot unpack $(basename "$TARBALL")"
TREE=$(find "$SRC" -mindepth 1 -maxdepth 1 -type d -name 'Python-*' | head -n1)
[ -n "$TREE" ] || unavailable "$(basename "$TARBALL") holds no Python-* tree"

(
  cd "$TREE" &&
  ./configure --disable-gil --prefix="$PREFIX" --with-ensurepip=install >>"$LOG" 2>&1 &&
  make -j"$(nproc)" >>"$LOG" 2>&1 &&
  rm -rf "$PREFIX" &&
  make install >>"$LOG" 2>&1
) || unavailable "configure, make or make install failed for $got"
rm -rf "$SRC"

PY=$(ls "$PREFIX"/bin/python3.*t 2>/dev/null | head -n1)
[ -n "$PY" ] && is_free_threaded "$PY" || unavailable "the build of $got has the GIL enabled"
"$PY" -c 'import ctypes, ssl, sqlite3' >>"$LOG" 2>&1 || unavailable "the build of $got lacks ctypes or ssl"
rm -f "$MARK"
echo "$PY"
