#!/usr/bin/with-contenv sh
# The container's CMD, started by s6-overlay's /init. with-contenv restores the container
# environment (SUPERVISOR_TOKEN) that s6 keeps aside; exec hands the process over so the stop
# signal reaches the add-on directly and it shuts down cleanly.
exec python3 -m rtcc_hub --options /data/options.json --data /data
