#!/usr/bin/env bash
# run.sh [FLAVOUR] - `make install-conf` (scripts/install-conf.sh) on temp CONFDIRs as
# an operator meets them: an empty one, one whose lua.conf.xml is the
# operator's own (every switch has one), each run twice, --check, a
# setting the operator holds with another value, a file it cannot merge,
# the shipped files themselves (no X-PRE-PROCESS inside a comment:
# FreeSWITCH's preprocessor runs those too), and make install's DESTDIR.
# xmllint reads the results as mod_lua would (libxml2-utils). The
# configuration is the same for every Lua flavour: FLAVOUR is not used.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
conf=freeswitch-conf
install_conf() { make -s --no-print-directory install-conf CONFDIR="$1" DESTDIR= "${@:2}"; }
xpath() { xmllint --xpath "$2" "$1" 2>/dev/null; }
# The <param> and <hook> elements of a file, one per line, as libxml2 reads them.
elems() { xmllint --xpath '//settings/param|//settings/hook' "$1" 2>/dev/null | sed 's/\/></\/>\n</g'; }
sums() { find "$1" -type f -print0 | sort -z | xargs -0 md5sum; }

echo "== an empty CONFDIR, twice"
d=$tmp/fresh
out=$(install_conf "$d")
echo "$out"
for f in autoload_configs/lua.conf.xml dialplan/default/ringlb.xml vars_ringlb.xml; do
  check "fresh: $f installed as shipped" cmp -s "$conf/$f" "$d/$f"
  check "fresh: says $f was installed" grep -q "$d/$f: installed" <<<"$out"
done
check "fresh: says how to include vars_ringlb.xml" grep -qF '<X-PRE-PROCESS cmd="include" data="vars_ringlb.xml"/>' <<<"$out"
before=$(sums "$d")
out=$(install_conf "$d")
echo "$out"
check "fresh, again: nothing changed" test "$before" = "$(sums "$d")"
check "fresh, again: says lua.conf.xml has every line" grep -q "lua.conf.xml: has every ringlb line already" <<<"$out"
check "fresh, again: says the examples are as shipped" test "$(grep -c ': same as shipped' <<<"$out")" -eq 2

echo "== the operator's own lua.conf.xml, twice"
d=$tmp/theirs
mkdir -p "$d/autoload_configs"
# A lua.conf.xml as a switch has it: commented-out examples, settings of
# the operator's, a hook of their own, and one of ringlb's hooks written
# another way (an empty subclass, single quotes, other spacing).
cat >"$d/autoload_configs/lua.conf.xml" <<'XML'
<configuration name="lua.conf" description="LUA Configuration">
  <settings>
    <!-- <param name="module-directory" value="/usr/lib/freeswitch/lua/?.so;;"/> -->
    <!--
      <hook event="CHANNEL_ANSWER" script="ringlb_track.lua"/>
    -->
    <param name="module-directory" value="/usr/local/lib/lua/5.3/?.so"/>
    <param name="xml-handler-script" value="app.lua xml_handler"/>
    <param name="xml-handler-bindings" value="dialplan"/>
    <hook event="CUSTOM" subclass="conference::maintenance" script="conf_events.lua"/>
    <hook   script='ringlb_track.lua' subclass=""
            event='CHANNEL_CREATE' />
  </settings>
</configuration>
XML
chmod 0640 "$d/autoload_configs/lua.conf.xml"
cp -p "$d/autoload_configs/lua.conf.xml" "$tmp/original.xml"
target=$d/autoload_configs/lua.conf.xml
out=$(install_conf "$d")
echo "$out"
backups=("$d"/autoload_configs/lua.conf.xml.ringlb-*.bak)
check "theirs: one backup, not named *.xml (FreeSWITCH loads those)" test ${#backups[@]} -eq 1 -a -e "${backups[0]}"
check "theirs: the backup is the file before" cmp -s "$tmp/original.xml" "${backups[0]}"
check "theirs: says where the backup is" grep -qF "the file before is ${backups[0]}" <<<"$out"
check "theirs: the merged file is well-formed XML" xmllint --noout "$target"
check "theirs: mode kept" test "$(stat -c %a "$target")" = 640
elems "$conf/autoload_configs/lua.conf.xml" >"$tmp/shipped.elems"
elems "$target" >"$tmp/merged.elems"
missing=$(grep -vxFf "$tmp/merged.elems" "$tmp/shipped.elems" | grep -v "CHANNEL_CREATE" || true)
check "theirs: every shipped param and hook is in <settings> (missing: ${missing:-none})" test -z "$missing"
while read -r line; do
  check "theirs: says it added $line" grep -qF "$line" <<<"$out"
done < <(grep -vF CHANNEL_CREATE "$tmp/shipped.elems")
check "theirs: CHANNEL_CREATE hook, already there, not added again" \
  test "$(xpath "$target" 'count(//settings/hook[@event="CHANNEL_CREATE"][@script="ringlb_track.lua"])')" = 1
check "theirs: their settings and hook kept" test "$(xpath "$target" 'count(//settings/param[@name="xml-handler-script"] | //settings/hook[@script="conf_events.lua"] | //settings/param[@value="/usr/local/lib/lua/5.3/?.so"])')" = 3
check "theirs: their comments kept" grep -q '<!-- <param name="module-directory"' "$target"
cpath=$(xpath "$target" '//settings/param[@name="module-directory"]/@value' | sed 's/^ *value="\(.*\)"$/\1/' | paste -sd';')
check "theirs: mod_lua's cpath has ringlb's directory first ($cpath)" test "${cpath%%;*}" = "/usr/lib/freeswitch/lua/?.so"
before=$(sums "$d")
out=$(install_conf "$d")
echo "$out"
check "theirs, again: nothing changed, no second backup" test "$before" = "$(sums "$d")"
check "theirs, again: says lua.conf.xml has every line" grep -q "lua.conf.xml: has every ringlb line already" <<<"$out"

echo "== --check changes nothing and shows the lines"
d=$tmp/check
mkdir -p "$d/autoload_configs"
cp "$tmp/original.xml" "$d/autoload_configs/lua.conf.xml"
before=$(sums "$d")
out=$(scripts/install-conf.sh --check "$d")
echo "$out"
check "--check: nothing changed" test "$before" = "$(sums "$d")"
check "--check: shows the module-directory line" grep -qF '<param name="module-directory" value="/usr/lib/freeswitch/lua/?.so;;"/>' <<<"$out"
check "--check: says which files it would copy" test "$(grep -c 'missing; install-conf would copy' <<<"$out")" -eq 2

echo "== generic over what the shipped file carries"
# Another shipped lua.conf.xml beside a copy of the script: a startup
# script is added like any element; a setting that holds one value is
# never added over the operator's.
mkdir -p "$tmp/pkg/freeswitch-conf/autoload_configs" "$tmp/pkg/freeswitch-conf/dialplan/default"
cp scripts/install-conf.sh "$tmp/pkg/"
cp "$conf/dialplan/default/ringlb.xml" "$tmp/pkg/freeswitch-conf/dialplan/default/"
cp "$conf/vars_ringlb.xml" "$tmp/pkg/freeswitch-conf/"
cat >"$tmp/pkg/freeswitch-conf/autoload_configs/lua.conf.xml" <<'XML'
<configuration name="lua.conf" description="LUA Configuration">
  <settings>
    <param name="startup-script" value="ringlb_startup.lua"/>
    <param name="xml-handler-script" value="ringlb_xml.lua"/>
    <hook event="CUSTOM" subclass="ringlb::info" script="ringlb_info.lua"/>
  </settings>
</configuration>
XML
d=$tmp/generic
mkdir -p "$d/autoload_configs"
cp "$tmp/original.xml" "$d/autoload_configs/lua.conf.xml"
out=$("$tmp/pkg/install-conf.sh" "$d")
echo "$out"
target=$d/autoload_configs/lua.conf.xml
check "generic: the startup script is added" test "$(xpath "$target" 'count(//settings/param[@name="startup-script"][@value="ringlb_startup.lua"])')" = 1
check "generic: the hook with a subclass is added" test "$(xpath "$target" 'count(//settings/hook[@subclass="ringlb::info"])')" = 1
check "generic: their xml-handler-script kept, ours not added" test "$(xpath "$target" 'string(//settings/param[@name="xml-handler-script"]/@value)')" = "app.lua xml_handler" -a "$(xpath "$target" 'count(//settings/param[@name="xml-handler-script"])')" = 1
check "generic: the kept setting is reported" grep -qF '<param name="xml-handler-script" value="ringlb_xml.lua"/> (yours: value="app.lua xml_handler")' <<<"$out"

echo "== a lua.conf.xml with no <settings>, an edited example"
d=$tmp/odd
mkdir -p "$d/autoload_configs"
echo '<configuration name="lua.conf" description="LUA Configuration"/>' >"$d/autoload_configs/lua.conf.xml"
sed 's/ringlb_support_capacity=1/ringlb_support_capacity=2/' "$conf/vars_ringlb.xml" >"$d/vars_ringlb.xml"
before=$(sums "$d")
rc=0; out=$(scripts/install-conf.sh "$d") || rc=$?
echo "$out"
check "no <settings>: exit 1" test "$rc" -eq 1
check "no <settings>: lua.conf.xml unchanged" test "$(md5sum <"$d/autoload_configs/lua.conf.xml")" = "$(grep autoload_configs <<<"$before" | cut -d' ' -f1)  -"
check "no <settings>: shows the lines to add" grep -qF '<param name="startup-script" value="ringlb_track.lua consume"/>' <<<"$out"
check "edited vars_ringlb.xml: kept" grep -q 'ringlb_support_capacity=2' "$d/vars_ringlb.xml"
check "edited vars_ringlb.xml: the difference shown" grep -q '^    -.*ringlb_support_capacity=2' <<<"$out"

echo "== the shipped files"
# FreeSWITCH's preprocessor runs an X-PRE-PROCESS tag even inside an XML
# comment: a disabled line must be spelt otherwise (Z-PRE-PROCESS).
bad=$(find "$conf" -name '*.xml' -exec awk '
  FNR == 1 { c = 0 }
  { line = $0
    while (line != "") {
      if (c) {
        j = index(line, "-->"); seg = j ? substr(line, 1, j - 1) : line
        if (index(tolower(seg), "<x-pre-process")) print FILENAME ":" FNR
        if (!j) break
        line = substr(line, j + 3); c = 0; continue
      }
      i = index(line, "<!--"); if (!i) break
      line = substr(line, i + 4); c = 1 } }' {} +)
check "no X-PRE-PROCESS inside a comment (${bad:-none})" test -z "$bad"
for f in $(find "$conf" -name '*.xml'); do
  # The preprocessor drops <include> lines; the rest must parse.
  check "$f is well-formed" xmllint --noout "$f"
done
check "vars_ringlb.xml leaves the backend alone (no active ringlb_url)" \
  sh -c "! grep -q '<X-PRE-PROCESS cmd=\"set\" data=\"ringlb_url=' '$conf/vars_ringlb.xml'"

echo "== make install with DESTDIR"
out=$(make -s --no-print-directory install DESTDIR="$tmp/stage" 2>&1 | tail -n 1)
echo "$out"
check "make install says where it put things, DESTDIR included" \
  test "$out" = "installed $tmp/stage/usr/lib/freeswitch/lua/ringlb.so (linked from $tmp/stage/usr/lib/x86_64-linux-gnu/lua/5.3), the scripts into $tmp/stage/usr/share/freeswitch/scripts, ringlb-fusionpbx into $tmp/stage/usr/bin"
check "make install put ringlb.so and the scripts there" \
  test -f "$tmp/stage/usr/lib/freeswitch/lua/ringlb.so" -a -f "$tmp/stage/usr/share/freeswitch/scripts/ringlb_ring.lua"

echo "conf: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
