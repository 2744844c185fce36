#!/usr/bin/env sh
# Check that each given Python finds and loads the add-on's native mask filter (built by the
# package install from rtcc_imaging.c). Used by scripts/setup.sh and the add-on's Dockerfile.
#   hub_addon/native/check.sh PYTHON...
set -eu
for python in "$@"; do
  if ! "$python" -c 'from rtcc_hub.imaging.native import Native, library_path
Native()
print("[native] mask filter:", library_path())'; then
    echo "[native] $python cannot load the native mask filter: install the add-on package with a C compiler (gcc or cc) present" >&2
    exit 1
  fi
done
