# shellcheck shell=bash
# Debian packages (suite "forky") fetched with a *private* apt configuration: its own
# sources.list and package lists under APT_DIR, its own (empty) package status and archives
# under WORK. Nothing is installed into, or changed on, the system. Sourced by
# scripts/python314.sh, scripts/mosquitto.sh, scripts/chromium.sh and benchmarks/fetch_ffmpeg.sh.
#
#   debian_can_fetch                          apt-get and dpkg on x86_64 (Debian/Ubuntu)
#   debian_download APT_DIR WORK PACKAGE...   exactly these packages into WORK/debs
#   debian_fetch_closure APT_DIR WORK PACKAGE...
#                                             these and every package they depend on into
#                                             WORK/debs (the status is empty, so apt thinks
#                                             nothing is installed and fetches the whole closure)
#   debian_unpack DEBS_DIR ROOT               `dpkg -x` every .deb of DEBS_DIR into ROOT

debian_can_fetch() {
  command -v apt-get >/dev/null && command -v dpkg >/dev/null && [ "$(uname -m)" = x86_64 ]
}

_debian_apt() {
  local apt=$1 work=$2
  shift 2
  apt-get \
    -o "Dir::Etc::SourceList=$apt/sources.list" \
    -o "Dir::Etc::SourceParts=/dev/null" \
    -o "Dir::Etc::Preferences=/dev/null" \
    -o "Dir::Etc::PreferencesParts=/dev/null" \
    -o "Dir::State=$work/state" \
    -o "Dir::State::status=$work/state/status" \
    -o "Dir::State::Lists=$apt/lists" \
    -o "Dir::Cache=$work/cache" \
    -o "Dir::Cache::archives=$work/debs" \
    -o "Debug::NoLocking=1" \
    -o "APT::Get::List-Cleanup=0" \
    -o "APT::Install-Recommends=0" \
    -o "APT::Sandbox::User=root" \
    "$@"
}

_debian_update() {
  local apt=$1 work=$2
  mkdir -p "$apt/lists/partial" "$work/debs/partial" "$work/state" "$work/cache"
  : >"$work/state/status"
  echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian forky main' \
    >"$apt/sources.list"
  # Two runs at once may update the shared lists together; apt writes them through partial/ and
  # renames, and a failed update is retried once.
  _debian_apt "$apt" "$work" -qq update >&2 || _debian_apt "$apt" "$work" -qq update >&2
}

debian_download() {
  local apt=$1 work=$2
  shift 2
  _debian_update "$apt" "$work"
  (cd "$work/debs" && _debian_apt "$apt" "$work" -qq download "$@" 2>&1 \
    | grep -v '^W: Download is performed unsandboxed' >&2 || true)
  ls "$work/debs"/*.deb >/dev/null
}

debian_fetch_closure() {
  local apt=$1 work=$2
  shift 2
  _debian_update "$apt" "$work"
  _debian_apt "$apt" "$work" -qq -y --download-only install "$@" >&2
}

debian_unpack() {
  local debs=$1 root=$2 deb
  mkdir -p "$root"
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
}
