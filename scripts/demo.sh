#!/usr/bin/env bash
# Set everything up and run the demo: a real Home Assistant with two cameras, the add-on with no
# open port (one relay to a local Mosquitto), a stand-in Frigate recording the street camera, 50
# neighbour homes, and a simulated city hub. Leaves Home Assistant running until Ctrl-C (`--once`
# exits after the scenario).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
bash scripts/setup.sh
. scripts/env.sh
exec .venv/bin/python scripts/demo.py "$@"
