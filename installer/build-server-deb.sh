#!/usr/bin/env bash
# Builds the headless server package release/sitecall-server_<version>_<arch>.deb with dpkg-deb
# and fakeroot (no downloads beyond the npm registry, which `npm ci` may use for cache misses).
#
#   npm run dist:server          (builds dist/ first, then runs this script)
#
# The package installs the app to /opt/sitecall (dist, bin, package.json and production
# node_modules), a `sitecall` system user, the data directory /var/lib/sitecall, the systemd unit
# sitecall.service (enabled and started on install), /etc/default/sitecall and /usr/bin/sitecall.
# It needs Node.js >= 20 from the target's package manager (Debian 12's own nodejs is 18: use
# NodeSource's or a newer Debian's). Native modules in node_modules are built here, for this
# machine's Node ABI and architecture; the package then depends on this Node major version.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

die() { echo "build-server-deb: $*" >&2; exit 1; }

for tool in dpkg-deb fakeroot node npm; do
  command -v "$tool" >/dev/null || die "$tool is required (apt-get install dpkg fakeroot; Node.js >= 20)."
done
for built in bin/sitecall.js dist/service/cli.js dist/renderer/index.html package-lock.json; do
  [ -e "$built" ] || die "missing $built: run \"npm run build\" first (\"npm run dist:server\" does both)."
done

version="$(node -p "require('./package.json').version")"
node_major="$(node -p "process.versions.node.split('.')[0]")"
node_abi="$(node -p process.versions.modules)"
[ "$node_major" -ge 20 ] || die "building needs Node.js >= 20 (this is $(node --version))."

work="$(mktemp -d "${TMPDIR:-/tmp}/sitecall-deb.XXXXXX")"
trap 'rm -rf "$work"' EXIT
pkg="$work/pkg"
app="$pkg/opt/sitecall"
mkdir -p "$app/dist" "$pkg/DEBIAN"

echo "build-server-deb: staging the app in $app"
cp -a bin package.json package-lock.json "$app/"
for part in service shared renderer; do
  [ -d "dist/$part" ] && cp -a "dist/$part" "$app/dist/"
done
find "$app/dist" \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.ts.map' -o -name '*.tsbuildinfo' \) -delete
chmod 0755 "$app/bin/sitecall.js"

echo "build-server-deb: installing production dependencies (npm ci --omit=dev)"
(
  cd "$app"
  npm ci --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error
)
rm -f "$app/node_modules/.package-lock.json"

# Native builds leave their intermediates (objects, archives, makefiles) and the C/C++ sources
# next to the module: only build/Release/*.node is loaded at run time.
find "$app/node_modules" -type d \( -path '*/build/Release/obj.target' -o -path '*/build/Release/obj' \) -prune -exec rm -rf {} +
find "$app/node_modules" -type d -path '*/build/Release/.deps' -prune -exec rm -rf {} +
find "$app/node_modules" -path '*/build/*' -type f \( -name '*.o' -o -name '*.a' -o -name 'Makefile' -o -name '*.Makefile' -o -name '*.mk' -o -name 'config.gypi' \) -delete
find "$app/node_modules" -path '*/build/*' -type d -empty -delete
find "$app/node_modules" -path '*/build/Release/test_*.node' -delete
if [ -d "$app/node_modules/better-sqlite3" ]; then
  rm -rf "$app/node_modules/better-sqlite3/deps" "$app/node_modules/better-sqlite3/src"
fi

# Native modules tie the package to this architecture and Node ABI.
if [ -n "$(find "$app/node_modules" -name '*.node' -type f -print -quit)" ]; then
  architecture="$(dpkg --print-architecture)"
  node_depends="nodejs (>= ${node_major}), nodejs (<< $((node_major + 1)))"
  echo "$node_abi" >"$app/.node-abi"
  echo "build-server-deb: native modules found: $architecture, Node ABI $node_abi (Node $node_major)"
else
  architecture=all
  node_depends="nodejs (>= 20)"
fi

install -D -m 0644 installer/sitecall.service "$pkg/usr/lib/systemd/system/sitecall.service"
install -D -m 0644 installer/deb/default "$pkg/etc/default/sitecall"
install -D -m 0755 installer/deb/sitecall-cli "$pkg/usr/bin/sitecall"
for script in postinst prerm postrm; do
  install -m 0755 "installer/deb/$script" "$pkg/DEBIAN/$script"
done
echo "/etc/default/sitecall" >"$pkg/DEBIAN/conffiles"

# Directories 0755, files as they are but never group/world-writable.
find "$pkg" -type d -exec chmod 0755 {} +
chmod -R go-w "$pkg"

installed_size="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: sitecall-server
Version: ${version}
Architecture: ${architecture}
Maintainer: Sitecall <packages@sitecall.example>
Installed-Size: ${installed_size}
Depends: ${node_depends}, adduser, util-linux
Section: comm
Priority: optional
Description: Sitecall call records and voicemail appliance (headless server)
 Keeps the record of every call and voicemail of an office phone system,
 survives the crash of the phone system's own processes and keeps two or
 more office sites in step. This package runs the Sitecall service under
 systemd (sitecall.service) as the user sitecall, with its data in
 /var/lib/sitecall. The console is served at http://127.0.0.1:7080/ by
 default; settings are in /etc/default/sitecall.
CONTROL

(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"

mkdir -p release
out="release/sitecall-server_${version}_${architecture}.deb"
fakeroot -- sh -c "chown -R 0:0 '$pkg' && dpkg-deb --build -Zxz '$pkg' '$out'" >/dev/null
echo "build-server-deb: wrote $out ($(du -h "$out" | cut -f1))"
