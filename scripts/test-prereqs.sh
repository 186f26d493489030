#!/usr/bin/env bash
# Makes sure the system packages the tests drive are present: Debian's Chromium for the console
# tests. Installs them with apt-get when run as root on Debian; otherwise says what to install.
set -euo pipefail

declare -A needs=([chromium]=/usr/bin/chromium)
missing=()
for pkg in "${!needs[@]}"; do
  [ -x "${needs[$pkg]}" ] || missing+=("$pkg")
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
