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

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null || [ "$(uname -m)" != x86_64 ]; then
  log "needs apt-get and dpkg on x86_64 (Debian/Ubuntu)"
  exit 1
fi

apt="$cache/apt-ffmpeg"
mkdir -p "$home"
work=$(mktemp -d "$home/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$apt/lists/partial" "$work/debs/partial" "$work/state" "$work/cache"
: >"$work/state/status" # empty package status: the whole dependency closure is downloaded
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian forky main' \
  >"$apt/sources.list"
aptopts=(
  -o "Dir::Etc::SourceList=$apt/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::Etc::Preferences=/dev/null"
  -o "Dir::Etc::PreferencesParts=/dev/null"
  -o "Dir::State=$work/state"
  -o "Dir::State::status=$work/state/status"
  -o "Dir::State::Lists=$apt/lists"
  -o "Dir::Cache=$work/cache"
  -o "Dir::Cache::archives=$work/debs"
  -o "Debug::NoLocking=1"
  -o "APT::Get::List-Cleanup=0"
  -o "APT::Install-Recommends=0"
  -o "APT::Sandbox::User=root"
)
log "fetching Debian's ffmpeg and its libraries into $root (private apt configuration)"
apt-get "${aptopts[@]}" -qq update >&2 || apt-get "${aptopts[@]}" -qq update >&2
apt-get "${aptopts[@]}" -qq -y --download-only install ffmpeg >&2
mkdir -p "$work/root"
for deb in "$work/debs"/*.deb; do dpkg -x "$deb" "$work/root"; done
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
