#!/usr/bin/with-contenv sh
# The container's CMD, started by s6-overlay's /init. with-contenv restores the container
# environment (SUPERVISOR_TOKEN) that s6 keeps aside. Without --options the add-on runs in
# Supervisor mode: /data/options.json, /data, Home Assistant through the Supervisor proxy, and
# discovery. exec hands the process over so the stop signal reaches the add-on directly.
exec python3 -m rtcc_hub
