#!/usr/bin/env bash
# Packs the Kamailio adapter for a Kamailio host that has no Sitecall checkout:
#   release/sitecall-kamailio-adapter-<version>.tar.gz
# with the built adapter (lib/*.js), its one dependency (node_modules/ws, no native code), a
# package.json, the systemd unit, kamailio.cfg and the README. Needs `npm run build` first.
# On the Kamailio host:  tar xzf sitecall-kamailio-adapter-<version>.tar.gz -C /opt
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
die() { echo "pack-adapter: $*" >&2; exit 1; }
[ -f dist/integrations/kamailio/adapter/main.js ] || die 'dist/integrations/kamailio/adapter is missing: run "npm run build" first.'
[ -f node_modules/ws/package.json ] || die 'node_modules/ws is missing: run "npm ci" first.'

version="$(node -p "require('./package.json').version")"
ws_version="$(node -p "require('./node_modules/ws/package.json').version")"
work="$(mktemp -d "${TMPDIR:-/tmp}/sitecall-kam.XXXXXX")"
trap 'rm -rf "$work"' EXIT
stage="$work/sitecall-kamailio-adapter"
mkdir -p "$stage/lib" "$stage/node_modules" release

cp dist/integrations/kamailio/adapter/*.js "$stage/lib/"
cp -a node_modules/ws "$stage/node_modules/"
cp integrations/kamailio/kamailio.cfg integrations/kamailio/sitecall-kamailio-adapter.service integrations/kamailio/README.md "$stage/"
cat >"$stage/package.json" <<JSON
{
  "name": "sitecall-kamailio-adapter",
  "version": "$version",
  "private": true,
  "type": "module",
  "main": "lib/main.js",
  "engines": { "node": ">=18" },
  "dependencies": { "ws": "$ws_version" }
}
JSON
out="release/sitecall-kamailio-adapter-$version.tar.gz"
tar czf "$out" -C "$work" sitecall-kamailio-adapter
echo "pack-adapter: $out"
