#!/usr/bin/env bash
# Makes sure the system packages the tests drive are present: Debian's Chromium for the console
# tests, Kamailio and SIPp for the phone-system tests. Installs them with apt-get when run as root
# on Debian; otherwise says what to install.
set -euo pipefail

packages=(chromium kamailio kamailio-extra-modules sip-tester)
missing=()
for pkg in "${packages[@]}"; do
  if command -v dpkg-query >/dev/null; then
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  else
    # Not Debian: at least the programs must be there.
    case "$pkg" in
      chromium) command -v chromium >/dev/null || missing+=("$pkg") ;;
      kamailio) command -v kamailio >/dev/null || missing+=("$pkg") ;;
      sip-tester) command -v sipp >/dev/null || missing+=("$pkg") ;;
    esac
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test prerequisites: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "The tests need these Debian packages: ${missing[*]}. Install them (sudo apt-get install ${missing[*]}) and run the tests again." >&2
  exit 1
fi
