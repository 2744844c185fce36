# Sourced by the check and demo commands after scripts/setup.sh: points PyTurboJPEG 2.x at
# libjpeg-turbo >= 3 when setup fetched it into .cache (Debian bookworm only ships 2.1).
_rtcc_turbo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/py314/root/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0"
if [ -z "${RTCC_TURBOJPEG_LIB:-}" ] && [ -e "$_rtcc_turbo" ]; then
  export RTCC_TURBOJPEG_LIB="$_rtcc_turbo"
fi
unset _rtcc_turbo
