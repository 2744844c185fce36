# Sourced by the setup, check and demo commands: points PyTurboJPEG 2.x at libjpeg-turbo >= 3 when
# setup fetched it into .cache (Debian bookworm only ships 2.1). An explicit RTCC_TURBOJPEG_LIB wins.
_rtcc_cache="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache"
for _rtcc_lib in "$_rtcc_cache/py314/root/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0" \
                 "$_rtcc_cache/turbojpeg/root/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0"; do
  if [ -z "${RTCC_TURBOJPEG_LIB:-}" ] && [ -e "$_rtcc_lib" ]; then
    export RTCC_TURBOJPEG_LIB="$_rtcc_lib"
  fi
done
unset _rtcc_cache _rtcc_lib
