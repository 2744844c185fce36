#!/usr/bin/env bash
# Set everything up and run every check: lint, format, types, the add-on's tests in its clean
# environment, the integration's tests, packaging checks, the end-to-end demo test, and the
# panel's browser tests.
# Exits non-zero on any failure; ends with one summary line "check: N passed, N failed".
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bash scripts/setup.sh || exit 1
. scripts/env.sh


reports="$repo/.cache/reports"
rm -rf "$reports" && mkdir -p "$reports"
rm -f .coverage .coverage.*
failed_steps=()
step() {
  local name=$1; shift
  printf '\n=== %s\n' "$name"
  local start=$SECONDS
  if "$@"; then
    printf '=== %s: ok (%ss)\n' "$name" $((SECONDS - start))
  else
    printf '=== %s: FAILED (%ss)\n' "$name" $((SECONDS - start))
    failed_steps+=("$name")
  fi
}

step "ruff check" .venv/bin/ruff check .
step "ruff format --check" .venv/bin/ruff format --check .
step "mypy --strict rtcc_hub" .venv/bin/mypy --strict hub_addon/rtcc_hub
step "mypy --strict rtcc_share" .venv/bin/mypy --strict custom_components/rtcc_share

# The add-on's own tests, in the clean environment, with coverage of rtcc_hub (subprocesses too).
step "add-on tests (clean env, coverage >= 90%)" \
  .venv-addon/bin/python -m pytest tests/hub -q -p no:cacheprovider -n 2 \
    --junitxml="$reports/addon.xml" \
    --cov=rtcc_hub --cov-report=term-missing:skip-covered --cov-fail-under=90

# The integration against a real add-on, and the static packaging checks.
step "integration + packaging tests (coverage >= 95%)" \
  .venv/bin/python -m pytest tests/integration tests/packaging -q -p no:cacheprovider -n 2 \
    --junitxml="$reports/integration.xml" \
    --cov=custom_components.rtcc_share --cov-config=tests/integration/coveragerc --cov-report=term-missing:skip-covered --cov-fail-under=95

# The demo scenario end to end: real Home Assistant, add-on and city hub processes.
step "end-to-end demo test" \
  .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider -p no:homeassistant \
    --ignore=tests/e2e/test_panel.py --junitxml="$reports/e2e.xml"

# The owner's panel in a real browser (Chromium from .cache) against a real Home Assistant.
step "browser tests of the panel" \
  .venv/bin/python -m pytest tests/e2e/test_panel.py -q -p no:cacheprovider -p no:homeassistant \
    --junitxml="$reports/browser.xml"

.venv/bin/python scripts/junit_summary.py "$reports"/*.xml
summary_rc=$?
if [ ${#failed_steps[@]} -ne 0 ]; then
  printf 'failed steps: %s\n' "${failed_steps[*]}"
  exit 1
fi
exit $summary_rc
