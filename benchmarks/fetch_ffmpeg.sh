#!/usr/bin/env bash
# Print the path of Debian's ffmpeg for benchmarks/clips.py (the anchor it is compared with),
# fetching it into .cache/ffmpeg if needed.
#
# Debian's ffmpeg (suite "forky") with its whole dependency closure is downloaded with a
# *private* apt configuration whose package status is empty (apt thinks nothing is installed
# and fetches every library) and unpacked with `dpkg -x` into .cache/ffmpeg/root; its own libc's
# loader runs it. Nothing is installed into, or changed on, the system. Safe to run twice at
# once: each run unpacks into its own temporary folder; the first finished one is moved in.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$here/.cache"
home="$cache/ffmpeg"
root="$home/root"
wrapper="$home/run"
log() { printf '[ffmpeg] %s\n' "$*" >&2; }

works() { [ -x "$wrapper" ] && "$wrapper" -hide_banner -version >/dev/null 2>&1; }
if works; then
  echo "$wrapper"
  exit 0
fi

. "$here/scripts/debian_fetch.sh"
if ! debian_can_fetch; then
  log "needs apt-get and dpkg on x86_64 (Debian/Ubuntu)"
  exit 1
fi

apt="$cache/apt-ffmpeg"
mkdir -p "$home"
work=$(mktemp -d "$home/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "fetching Debian's ffmpeg and its libraries into $root (private apt configuration)"
debian_fetch_closure "$apt" "$work" ffmpeg
debian_unpack "$work/debs" "$work/root"
log "unpacked $(ls "$work/debs"/*.deb | wc -l) packages"

lib="$root/usr/lib/x86_64-linux-gnu"
{
  echo '#!/bin/sh'
  echo '# Written by benchmarks/fetch_ffmpeg.sh: Debian ffmpeg with its own libraries and loader.'
  echo "exec '$lib/ld-linux-x86-64.so.2' --library-path '$lib:$lib/blas:$lib/lapack:$lib/pulseaudio' '$root/usr/bin/ffmpeg' \"\$@\""
} >"$work/run"
chmod +x "$work/run"

if [ ! -d "$root" ] || ! works; then
  rm -rf "$root.old"
  if [ -d "$root" ]; then mv "$root" "$root.old"; fi
  mv "$work/root" "$root"
  mv "$work/run" "$wrapper.tmp" && mv "$wrapper.tmp" "$wrapper"
  rm -rf "$root.old"
fi
if ! works; then
  log "the fetched ffmpeg does not run: $("$wrapper" -version 2>&1 | tail -3)"
  exit 1
fi
echo "$wrapper"
