#!/usr/bin/env bash
# deb.sh [LUA] - build build/ringlb-<flavour>_<version>_amd64.deb with
# dpkg-deb: the module built for the Lua that the switch's mod_lua uses
# (LUA: 5.3, the default, for FreeSWITCH 1.10.10+ on Debian 12; 5.1, 5.2, 5.4
# or jit), linked from that Lua's own module directory (in mod_lua's default
# cpath, which FusionPBX keeps), the dialplan scripts, ringlbctl and
# ringlb-fusionpbx with their man pages, install-conf.sh
# and the shipped configuration in /usr/share/ringlb, and the docs, the
# Grafana dashboard and the example configuration under
# /usr/share/doc/ringlb-<flavour>. Paths are those of Debian's FreeSWITCH
# packages. Each flavour is its own package (ringlb-lua5.3, ...); they
# exclude each other, as they install the same files.
#
# The version is ringlb's (internal/version, asked of the ringlbctl built
# here); scripts/deb/changelog must have an entry for it. The binaries are
# stripped; libc6's version in Depends is the newest GLIBC_ symbol version
# they use; the copyright file lists the Go modules linked into them, read
# from their build information, with the licences from the module cache.
set -euo pipefail
cd "$(dirname "$0")/.."
lua=${1:-${LUA:-5.3}}
. scripts/flavour.sh
flavour "$lua" || exit 2
package=ringlb-$lua_flavour
die() { echo "deb.sh: $*" >&2; exit 1; }

./build.sh "$lua" >/dev/null
mkdir -p build/deb
# The commands as hardened executables: position-independent, full RELRO,
# their C parts (the cgo runtime) fortified.
for cmd in ringlbctl ringlb-fusionpbx; do
  CGO_ENABLED=1 CGO_CFLAGS="-O2 -D_FORTIFY_SOURCE=2" go build -trimpath -buildmode=pie \
    -ldflags="-s -w -linkmode=external -extldflags=-Wl,-z,relro,-z,now" -o "build/deb/$cmd" "./cmd/$cmd"
done
version=$(build/deb/ringlbctl --version | sed -n 's/^ringlbctl //p')
[ -n "$version" ] || die "ringlbctl --version printed no version"
logged=$(sed -n '1s/^ringlb (\([^)]*\)).*/\1/p' scripts/deb/changelog)
[ "$logged" = "$version" ] || die "scripts/deb/changelog's latest entry is '$logged', the version is $version: add an entry"
maintainer=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' scripts/deb/changelog | head -n 1)
[ -n "$maintainer" ] || die "no maintainer line in scripts/deb/changelog"

pkg=build/deb/$package
doc=$pkg/usr/share/doc/$package
rm -rf "$pkg"
install -d "$pkg/DEBIAN" "$pkg/usr/lib/freeswitch/lua" "$pkg/usr/share/freeswitch/scripts/ringlb" \
  "$pkg/usr/bin" "$pkg/usr/share/man/man1" "$pkg/usr/share/ringlb" "$doc/examples"
# As dh_strip does: symbols and notes out; the dynamic symbols stay.
strip --strip-unneeded --remove-section=.comment --remove-section=.note -o "$pkg/usr/lib/freeswitch/lua/ringlb.so" "$so_dir/ringlb.so"
chmod 0644 "$pkg/usr/lib/freeswitch/lua/ringlb.so"
for cmd in ringlbctl ringlb-fusionpbx; do
  strip --remove-section=.comment --remove-section=.note -o "$pkg/usr/bin/$cmd" "build/deb/$cmd"
  chmod 0755 "$pkg/usr/bin/$cmd"
  gzip -9n <"docs/$cmd.1" >"$pkg/usr/share/man/man1/$cmd.1.gz"
done
# Lua's own module directory for this flavour, in mod_lua's default cpath:
# a link there lets a mod_lua that keeps Lua's paths (FusionPBX's) find it.
luacdir=/usr/lib/x86_64-linux-gnu/lua/$lua_abi
install -d "$pkg$luacdir"
ln -s ../../../freeswitch/lua/ringlb.so "$pkg$luacdir/ringlb.so"
[ -e "$pkg$luacdir/ringlb.so" ] || die "the link in $luacdir does not reach the module"
install -m 0644 lua/ringlb/*.lua "$pkg/usr/share/freeswitch/scripts/ringlb/"
install -m 0644 lua/ringlb_*.lua "$pkg/usr/share/freeswitch/scripts/"
install -m 0755 scripts/install-conf.sh "$pkg/usr/share/ringlb/install-conf.sh"
cp -r freeswitch-conf "$pkg/usr/share/ringlb/"
ln -s ../../../ringlb/freeswitch-conf "$doc/examples/freeswitch-conf"
install -m 0644 README.md cgo/ringlb.h docs/*.md docs/grafana-ringlb.json "$doc/"
for f in README.Debian; do
  sed -e "s/@PACKAGE@/$package/g" -e "s/@LUA_NAME@/$lua_name/g" "scripts/deb/$f" >"$doc/$f"
done
gzip -9n <scripts/deb/changelog >"$doc/changelog.gz"
sed "s/@PACKAGE@/$package/g" scripts/deb/postinst >"$pkg/DEBIAN/postinst"
install -m 0755 scripts/deb/prerm "$pkg/DEBIAN/prerm"
chmod 0755 "$pkg/DEBIAN/postinst"

# copyright: ringlb's, then the Go runtime's and each linked module's.
modcache=$(go env GOMODCACHE)
licence_file() { # licence_file DIR: its LICENSE (or LICENCE, COPYING) file
  find "$1" -maxdepth 1 -type f -iregex '.*/\(license\|licence\|copying\)\(\.md\|\.txt\)?' | sort | head -n 1
}
licence_name() { # licence_name FILE: the licence's short name
  if grep -q 'Apache License' "$1" && grep -q 'Version 2\.0' "$1"; then echo Apache-2.0
  elif grep -q 'Permission is hereby granted, free of charge' "$1"; then echo Expat
  elif grep -q 'Redistribution and use in source and binary forms' "$1"; then
    if grep -qi 'neither the name' "$1"; then echo BSD-3-Clause; else echo BSD-2-Clause; fi
  else return 1
  fi
}
paragraph() { # paragraph NAME VERSION DIR WHERE: the Files paragraph of one Go module
  local name=$1 ver=$2 dir=$3 where=$4 lic file holders notice
  file=$(licence_file "$dir")
  [ -n "$file" ] || die "$name $ver: no licence file in $dir"
  lic=$(licence_name "$file") || die "$name $ver: unknown licence in $file"
  holders=$({ cat "$file"; cat "$dir/NOTICE" 2>/dev/null || true; } | grep -E '^[[:space:]]*Copyright' |
    { grep -v '\[yyyy\]' || true; } | sed 's/^[[:space:]]*Copyright[[:space:]]*//' | sort -u)
  echo
  echo "Files: $name/*"
  if [ -n "$holders" ]; then
    echo "Copyright: $(sed '2,$s/^/ /' <<<"$holders")"
  else
    echo "Copyright: the authors of $name"
  fi
  if [ "$lic" = Apache-2.0 ]; then
    echo "License: Apache-2.0"
    echo " On Debian systems, the full text of the Apache License, Version 2.0 is in"
    echo " /usr/share/common-licenses/Apache-2.0."
    notice=$dir/NOTICE
    if [ -f "$notice" ]; then
      echo "Comment: $name $ver, linked into $where. Its NOTICE:"
      sed 's/^[[:space:]]*$/./; s/^/ /' "$notice"
    else
      echo "Comment: $name $ver, linked into $where."
    fi
  else
    echo "License: $lic"
    sed 's/^[[:space:]]*$/./; s/^/ /' "$file"
    echo "Comment: $name $ver, linked into $where."
  fi
}
{
  cat scripts/deb/copyright.in
  goversion=$(go version -m "$so_dir/ringlb.so" | sed -n '1s/.*: go//p')
  paragraph "go" "$goversion (runtime and standard library)" "$(go env GOROOT)" "every binary"
  # Each module once, with the binaries it is in; module paths in the
  # cache escape capitals as !lowercase.
  for bin in "$so_dir/ringlb.so" build/deb/ringlbctl build/deb/ringlb-fusionpbx; do
    go version -m "$bin" | awk -v bin="${bin##*/}" '$1 == "dep" { print $2, $3, bin }'
  done | sort | awk '{ k = $1 " " $2; if (k in w) w[k] = w[k] " and " $3; else { w[k] = $3; o[++n] = k } }
    END { for (i = 1; i <= n; i++) print o[i], w[o[i]] }' |
    while read -r name ver where; do
      paragraph "$name" "$ver" "$modcache/$(sed 's/[A-Z]/!\L&/g' <<<"$name")@$ver" "$where"
    done
} >"$doc/copyright"

# The newest glibc symbol version either binary needs.
glibc=$(objdump -T "$pkg/usr/lib/freeswitch/lua/ringlb.so" "$pkg"/usr/bin/* |
  grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
[ -n "$glibc" ] || die "no GLIBC_ symbol versions in the binaries"

(cd "$pkg" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CTL
Package: $package
Source: ringlb
Version: $version
Architecture: amd64
Maintainer: $maintainer
Installed-Size: $size
Depends: libc6 (>= $glibc), $lua_runtime
Enhances: freeswitch-mod-lua
Suggests: redis-server
Provides: ringlb
Conflicts: ringlb
Replaces: ringlb
Section: comm
Priority: optional
Description: least-loaded ring groups for FreeSWITCH (mod_lua with $lua_name)
 ringlb spreads the calls of FreeSWITCH ring groups evenly: dialplan Lua
 scripts ask it, in process, which members to try and in what order (least
 loaded first) and tell it when calls start and end. One switch keeps the
 load in memory; several share it through Redis (Sentinel and Cluster too).
 .
 This package is for a mod_lua linked with $lua_name ($lua_runtime): the module
 takes the Lua functions from mod_lua and links no Lua itself. The
 ringlb-lua* packages exclude each other; install the one for your mod_lua.
CTL
deb=build/${package}_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "built $deb"
