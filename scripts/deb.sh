#!/usr/bin/env bash
# deb.sh [LUA] - build build/ringlb_<version>_amd64.deb with dpkg-deb: the
# module built for the Lua that the switch's mod_lua uses (LUA: 5.3, the
# default, for FreeSWITCH 1.10.10+ on Debian 12; 5.1, 5.2, 5.4 or jit), the
# dialplan scripts, ringlbctl, and the example configuration and docs under
# /usr/share/doc/ringlb. Paths are those of Debian's FreeSWITCH packages.
set -euo pipefail
cd "$(dirname "$0")/.."
lua=${1:-${LUA:-5.3}}
case "$lua" in
  5.1|5.2|5.3|5.4) so_dir=build/lua$lua ;;
  jit|luajit) so_dir=build/luajit ;;
  *) echo "deb.sh: unknown Lua flavour '$lua' (want 5.1, 5.2, 5.3, 5.4 or jit)" >&2; exit 2 ;;
esac
version=$(sed -n 's/^#define RINGLB_VERSION "\(.*\)"$/\1/p' cgo/ringlb_call.h)
[ -n "$version" ] || { echo "deb.sh: no RINGLB_VERSION in cgo/ringlb_call.h" >&2; exit 1; }
./build.sh "$lua" >/dev/null
go build -trimpath -o build/ringlbctl ./cmd/ringlbctl
go build -trimpath -o build/ringlb-fusionpbx ./cmd/ringlb-fusionpbx
# Lua's own module directory for this flavour, in mod_lua's default cpath.
luacdir=/usr/lib/x86_64-linux-gnu/lua/$([ "$so_dir" = build/luajit ] && echo 5.1 || echo "$lua")

pkg=build/deb/ringlb_${version}_amd64
rm -rf "$pkg"
install -d "$pkg/DEBIAN" "$pkg/usr/lib/freeswitch/lua" "$pkg/usr/share/freeswitch/scripts/ringlb" \
  "$pkg/usr/bin" "$pkg/usr/share/doc/ringlb/examples"
install -m 0644 "$so_dir/ringlb.so" "$pkg/usr/lib/freeswitch/lua/ringlb.so"
install -m 0644 lua/ringlb/*.lua "$pkg/usr/share/freeswitch/scripts/ringlb/"
install -m 0644 lua/ringlb_*.lua "$pkg/usr/share/freeswitch/scripts/"
install -m 0755 build/ringlbctl "$pkg/usr/bin/ringlbctl"
install -m 0755 build/ringlb-fusionpbx "$pkg/usr/bin/ringlb-fusionpbx"
install -d "$pkg$luacdir"
ln -s /usr/lib/freeswitch/lua/ringlb.so "$pkg$luacdir/ringlb.so"
# Removing the package takes ringlb's line out of FusionPBX's files first.
cat > "$pkg/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -x /usr/bin/ringlb-fusionpbx ] && [ -f /var/lib/ringlb/fusionpbx/state.json ]; then
  /usr/bin/ringlb-fusionpbx off || echo "ringlb: ringlb-fusionpbx off failed; see docs/fusionpbx.md" >&2
fi
exit 0
SH
chmod 0755 "$pkg/DEBIAN/prerm"
install -m 0644 README.md cgo/ringlb.h "$pkg/usr/share/doc/ringlb/"
install -m 0644 docs/*.md "$pkg/usr/share/doc/ringlb/"
cp -r freeswitch-conf "$pkg/usr/share/doc/ringlb/examples/"
cat > "$pkg/usr/share/doc/ringlb/README.Debian" <<'TXT'
ringlb for FreeSWITCH
=====================

The module is /usr/lib/freeswitch/lua/ringlb.so, the dialplan scripts are in
/usr/share/freeswitch/scripts. mod_lua finds the module only if
/etc/freeswitch/autoload_configs/lua.conf.xml lists that directory, with ";;"
so Lua's own paths stay too:

  <param name="module-directory" value="/usr/lib/freeswitch/lua/?.so;;"/>
  <param name="script-directory" value="$${script_dir}/?.lua;;"/>
  <param name="startup-script" value="ringlb_startup.lua"/>

The startup script makes mod_lua's first Lua state before any call (two made
at once can hang the switch: freeswitch.md). Then restart the switch: mod_lua
cannot be reloaded, and runs its startup scripts only as it loads. Example
dialplan, variables and directory entries are in examples/freeswitch-conf;
README.md says the rest.
TXT
size=$(du -sk "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CTL
Package: ringlb
Version: $version
Architecture: amd64
Maintainer: ringlb developers <ringlb@localhost>
Installed-Size: $size
Depends: libc6
Enhances: freeswitch-mod-lua
Suggests: redis-server
Section: comm
Priority: optional
Description: least-loaded ring groups for FreeSWITCH (mod_lua module)
 ringlb spreads the calls of FreeSWITCH ring groups evenly: dialplan Lua
 scripts ask it, in process, which members to try and in what order (least
 loaded first) and tell it when calls start and end. One switch keeps the
 load in memory; several share it through Redis (Sentinel and Cluster too).
 Built for Lua $lua; it takes the Lua functions from mod_lua and links no Lua.
CTL
dpkg-deb --root-owner-group --build "$pkg" "build/ringlb_${version}_amd64.deb" >/dev/null
echo "built build/ringlb_${version}_amd64.deb"
