#!/usr/bin/env bash
# realswitch.sh FUSIONPBX_GIT_DIR [FREESWITCH_PREFIX] - the balancing strategy
# in a real FreeSWITCH with FusionPBX's own ring group script and app files.
# Run by hand (it needs a FreeSWITCH build and FusionPBX's source); `make
# test` never runs it. What it does, and what it printed, is in
# docs/fusionpbx.md.
#
#   FUSIONPBX_GIT_DIR  a clone (or bare mirror) of fusionpbx/fusionpbx: its
#                      files are taken from HEAD with git archive
#   FREESWITCH_PREFIX  a FreeSWITCH 1.10 install with mod_lua, mod_loopback,
#                      mod_sofia (default /opt/freeswitch-test)
#
# It builds, in a temporary directory: FusionPBX's scripts (the script
# directory) and web files; an SQLite database whose tables are generated
# from FusionPBX's app_config.php files (php-cli); FusionPBX's config.conf
# (found through SystemDrive, the fallback path FusionPBX's config.lua
# tries, so nothing is written to /etc); a FreeSWITCH configuration with
# FusionPBX's lua.conf.xml (its xml-handler lines dropped: the directory
# and dialplan are static XML here) plus ringlb's two startup scripts (start-up and the
# call tracker); a domain a.example with users 1001-1004 whose dial-string reaches loopback
# extensions that answer after 1 s; a ring group 9000 (strategy balancing,
# members 1001-1004) and 9001 (rollover, FusionPBX's own script). ringlb is
# installed with `make install` into the temporary directory, the module
# linked from Lua's default cpath (as the package does; removed at the end),
# and `ringlb-fusionpbx on` edits FusionPBX's files.
#
# Then: 30 calls to 9000, one a second, each talking 6 s; a direct call to
# 1001 (bridge user/1001@a.example) with 8 group calls during it; 1002 on
# do-not-disturb and 8 more group calls; 4 calls to the rollover group; every
# count 0 at the end; `ringlb-fusionpbx off` and FusionPBX's files compared
# with fresh copies byte for byte.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fpx_git=${1:?usage: $0 FUSIONPBX_GIT_DIR [FREESWITCH_PREFIX]}
fs=${2:-/opt/freeswitch-test}
port=8041
if pgrep -x freeswitch >/dev/null; then
  echo "a freeswitch process runs already: this script starts its own; stop it first" >&2
  exit 1
fi
command -v php >/dev/null || { echo "php-cli is needed to read FusionPBX's app_config.php files" >&2; exit 1; }
W=$(mktemp -d /tmp/ringlb-fusionpbx.XXXXXX)
luacdir=/usr/lib/x86_64-linux-gnu/lua/5.3
link=$luacdir/ringlb.so
fspid= made_luacdir=
cleanup() {
  if [ -n "$fspid" ] && kill -0 "$fspid" 2>/dev/null; then
    "$fs/bin/fs_cli" -P $port -x "shutdown" >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do kill -0 "$fspid" 2>/dev/null || break; sleep 0.2; done
    kill "$fspid" 2>/dev/null || true
  fi
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$W/mod/ringlb.so" ]; then rm -f "$link"; fi
  if [ -n "$made_luacdir" ]; then rmdir "$luacdir" 2>/dev/null || true; fi
  echo "work directory kept: $W"
}
trap cleanup EXIT
cli() { "$fs/bin/fs_cli" -P $port -x "$1"; }

echo "== FusionPBX files from $fpx_git ($(git --git-dir="$fpx_git" rev-parse HEAD))"
mkdir -p "$W/www" "$W/fresh" "$W/db" "$W/rec" "$W/log" "$W/run" "$W/fsdb" "$W/conf" "$W/ProgramData/fusionpbx"
paths="app/switch/resources/scripts app/ring_groups core/domains app/extensions app/follow_me core/email_templates
  app/email_queue core/default_settings core/domain_settings"
git --git-dir="$fpx_git" archive HEAD $paths 2>/dev/null | tar -x -C "$W/www"
git --git-dir="$fpx_git" archive HEAD $paths 2>/dev/null | tar -x -C "$W/fresh"
cp -r "$W/www/app/switch/resources/scripts" "$W/scripts"
cp -r "$W/www/app/switch/resources/scripts" "$W/fresh-scripts"

echo "== database from FusionPBX's app_config.php files"
cat > "$W/schema.php" <<'PHP'
<?php
// CREATE TABLE statements for SQLite from FusionPBX app_config.php files.
foreach (array_slice($argv, 1) as $f) {
	$apps = []; $x = 0; $y = 0; $z = 0;
	include $f;
	foreach ($apps as $app) {
		foreach ($app['db'] ?? [] as $t) {
			$name = is_array($t['table']['name']) ? $t['table']['name']['text'] : $t['table']['name'];
			$cols = [];
			foreach ($t['fields'] as $fld) {
				$n = is_array($fld['name']) ? ($fld['name']['text'] ?? null) : $fld['name'];
				if ($n === null) continue;
				$ty = is_array($fld['type']) ? ($fld['type']['sqlite'] ?? 'text') : $fld['type'];
				$cols[] = "\t$n $ty";
			}
			echo "CREATE TABLE $name (\n" . implode(",\n", $cols) . "\n);\n";
		}
	}
}
PHP
(cd "$W/www" && php "$W/schema.php" app/ring_groups/app_config.php core/domains/app_config.php \
  app/extensions/app_config.php app/follow_me/app_config.php core/email_templates/app_config.php \
  app/email_queue/app_config.php core/default_settings/app_config.php core/domain_settings/app_config.php) > "$W/schema.sql"
sqlite3 "$W/db/fusionpbx.db" < "$W/schema.sql"
grep -c "^CREATE TABLE" "$W/schema.sql" | sed 's/^/tables: /'
# config.lua builds the DSN "sqlite://<path>/<name> " (a trailing space)
# and the switch opens exactly that file name.
ln -s fusionpbx.db "$W/db/fusionpbx.db "
dom=11111111-1111-4111-8111-111111111111
rg=22222222-2222-4222-8222-222222222222
rg2=33333333-3333-4333-8333-333333333333
{
  echo "INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES ('$dom', 'a.example', 'true');"
  for e in 1001 1002 1003 1004; do
    echo "INSERT INTO v_extensions (extension_uuid, domain_uuid, extension, enabled) VALUES ('e$e', '$dom', '$e', 'true');"
  done
  for g in "$rg 9000 balancing" "$rg2 9001 rollover"; do
    set -- $g
    echo "INSERT INTO v_ring_groups (ring_group_uuid, domain_uuid, ring_group_name, ring_group_extension, ring_group_strategy,
      ring_group_call_timeout, ring_group_enabled, ring_group_forward_enabled, ring_group_call_forward_enabled,
      ring_group_follow_me_enabled, ring_group_call_screen_enabled)
      VALUES ('$1', '$dom', 'Sales $2', '$2', '$3', 60, 1, 'false', 'false', 'false', 'false');"
    for e in 1001 1002 1003 1004; do
      echo "INSERT INTO v_ring_group_destinations (ring_group_destination_uuid, domain_uuid, ring_group_uuid,
        destination_number, destination_delay, destination_timeout, destination_enabled)
        VALUES ('d$2$e', '$dom', '$1', '$e', 0, 20, 1);"
    done
  done
} | sqlite3 "$W/db/fusionpbx.db"
cat > "$W/ProgramData/fusionpbx/config.conf" <<EOF
database.0.type = sqlite
database.0.path = $W/db
database.0.name = fusionpbx.db
database.1.type = sqlite
database.1.path = $W/fsdb
database.1.name = core.db
switch.scripts.dir = $W/scripts
switch.recordings.dir = $W/rec
switch.sounds.dir = $fs/share/freeswitch/sounds
document.root = $W/www
temp.dir = /tmp
EOF

echo "== ringlb: make install, the module linked from $luacdir, ringlb-fusionpbx on"
make -C "$root" install LUA=5.3 MODDIR="$W/mod" SCRIPTDIR="$W/scripts" BINDIR="$W/bin" LUACDIR="$W/luacdir" >/dev/null
if [ -e "$link" ]; then echo "$link exists already; not touching it" >&2; exit 1; fi
[ -d "$luacdir" ] || { mkdir -p "$luacdir"; made_luacdir=1; }
ln -s "$W/mod/ringlb.so" "$link"
"$W/bin/ringlb-fusionpbx" -config "$W/ProgramData/fusionpbx/config.conf" -backup "$W/backup" on
php -l "$W/www/app/ring_groups/ring_group_edit.php"
php -l "$W/www/app/ring_groups/app_languages.php"
grep -n "balancing" "$W/www/app/ring_groups/ring_group_edit.php" | cut -c1-160

echo "== FreeSWITCH configuration"
mkdir -p "$W/conf/autoload_configs" "$W/conf/dialplan" "$W/conf/directory"
git --git-dir="$fpx_git" show HEAD:app/switch/resources/conf/autoload_configs/lua.conf.xml |
  sed -e '/xml-handler-script/d' -e '/xml-handler-bindings/d' \
    -e 's|</settings>|    <param name="startup-script" value="ringlb_startup.lua"/>\n    <param name="startup-script" value="ringlb_track.lua consume"/>\n  </settings>|' \
    > "$W/conf/autoload_configs/lua.conf.xml"
grep -n "script-directory\|module-directory\|startup-script" "$W/conf/autoload_configs/lua.conf.xml" | grep -v "<!--"
cat > "$W/conf/freeswitch.xml" <<EOF
<?xml version="1.0"?>
<document type="freeswitch/xml">
  <X-PRE-PROCESS cmd="set" data="ringlb_track=fusionpbx"/>
  <X-PRE-PROCESS cmd="set" data="ringlb_fusionpbx_user_domains=keep"/>
  <X-PRE-PROCESS cmd="set" data="agent_talk_ms=6000"/>
  <section name="configuration">
    <configuration name="switch.conf"><settings>
      <param name="max-sessions" value="1000"/><param name="sessions-per-second" value="100"/>
      <param name="loglevel" value="debug"/>
    </settings></configuration>
    <configuration name="modules.conf"><modules>
      <load module="mod_console"/><load module="mod_logfile"/><load module="mod_event_socket"/>
      <load module="mod_commands"/><load module="mod_dptools"/><load module="mod_loopback"/>
      <load module="mod_dialplan_xml"/><load module="mod_sofia"/><load module="mod_tone_stream"/>
      <load module="mod_sndfile"/><load module="mod_lua"/>
    </modules></configuration>
    <configuration name="console.conf"><mappings><map name="all" value="console,debug,info,notice,warning,err,crit,alert"/></mappings>
      <settings><param name="colorize" value="false"/><param name="loglevel" value="info"/></settings></configuration>
    <configuration name="logfile.conf"><settings><param name="rotate-on-hup" value="true"/></settings>
      <profiles><profile name="default"><settings><param name="rollover" value="104857600"/></settings>
        <mappings><map name="all" value="debug,info,notice,warning,err,crit,alert"/></mappings></profile></profiles></configuration>
    <configuration name="event_socket.conf"><settings>
      <param name="listen-ip" value="127.0.0.1"/><param name="listen-port" value="$port"/><param name="password" value="ClueCon"/>
    </settings></configuration>
    <configuration name="sofia.conf"><global_settings><param name="log-level" value="0"/></global_settings><profiles/></configuration>
    <X-PRE-PROCESS cmd="include" data="autoload_configs/lua.conf.xml"/>
  </section>
  <section name="dialplan">
    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>
  </section>
  <section name="directory">
    <X-PRE-PROCESS cmd="include" data="directory/*.xml"/>
  </section>
</document>
EOF
directory() { # directory DND_USER: users 1001-1004 of a.example, DND_USER on do-not-disturb
  {
    echo '<include>'   # the preprocessor drops what shares a line with <include>
    echo '<domain name="a.example">'
    echo '  <params><param name="dial-string" value="{presence_id=${dialed_user}@${dialed_domain}}loopback/agent-${dialed_user}/agents"/></params>'
    echo '  <groups><group name="default"><users>'
    for e in 1001 1002 1003 1004; do
      dnd=false; [ "$e" = "${1:-}" ] && dnd=true
      echo "    <user id=\"$e\"><variables><variable name=\"do_not_disturb\" value=\"$dnd\"/><variable name=\"extension_uuid\" value=\"e$e\"/></variables></user>"
    done
    echo '  </users></group></groups>'
    echo '</domain>'
    echo '</include>'
  } > "$W/conf/directory/a.example.xml"
}
directory ""
cat > "$W/conf/dialplan/a.example.xml" <<EOF
<include>
  <context name="a.example">
$(for g in "9000 $rg" "9001 $rg2"; do set -- $g; cat <<EXT
    <!-- as FusionPBX's ring group page writes it -->
    <extension name="Sales $1" continue="">
      <condition field="destination_number" expression="^$1\$">
        <action application="ring_ready" data=""/>
        <action application="set" data="ring_group_uuid=$2"/>
        <action application="set" data="record_stereo=true"/>
        <action application="lua" data="app.lua ring_groups"/>
      </condition>
    </extension>
EXT
done)
    <!-- a call straight to an extension, as FusionPBX's local_extension bridges it -->
    <extension name="local_extension">
      <condition field="destination_number" expression="^(100[1-4])\$">
        <action application="export" data="dialed_extension=\$1"/>
        <action application="bridge" data="user/\$1@a.example"/>
      </condition>
    </extension>
  </context>
  <!-- the phones: answer after 1 s, talk \${agent_talk_ms} -->
  <context name="agents">
    <extension name="agent">
      <condition field="destination_number" expression="^agent-(\\d+)\$">
        <action application="sleep" data="1000"/>
        <action application="answer"/>
        <action application="sleep" data="\${agent_talk_ms}"/>
        <action application="hangup"/>
      </condition>
    </extension>
  </context>
</include>
EOF

echo "== starting FreeSWITCH ($fs) on event socket port $port"
SystemDrive="$W" "$fs/bin/freeswitch" -ncwait -nonat -np -conf "$W/conf" -log "$W/log" -run "$W/run" -db "$W/fsdb" \
  -scripts "$W/scripts" -recordings "$W/rec" -temp "$W/run" >/dev/null
fspid=$(cat "$W/run/freeswitch.pid")
for _ in $(seq 1 60); do cli "status" >/dev/null 2>&1 && break; sleep 1; done
cli "status" | head -2
cli "lua ringlb_fusionpbx.lua status 9000@a.example"

calls() { # calls N EXTENSION: N callers, one a second
  for i in $(seq 1 "$1"); do
    cli "bgapi originate {origination_caller_id_number=0300000$i}loopback/$2/a.example &park" >/dev/null
    sleep 1
  done
}
wait_idle() {
  for _ in $(seq 1 120); do
    [ "$(cli "show channels count" | grep -o '^[0-9]*')" = "0" ] && return 0
    sleep 1
  done
  echo "channels still up" >&2; cli "show channels" >&2; return 1
}
answered() { # answered FROM_LINE: answered-by counts in the log after that line
  tail -n +"$1" "$W/log/freeswitch.log" | { grep -o "ring group 9000@a.example: answered by [^ ]*" || true; } |
    sed 's/.*answered by //' | sort | uniq -c
}
count() { # count FROM_LINE TEXT: log lines after FROM_LINE holding TEXT
  tail -n +"$1" "$W/log/freeswitch.log" | { grep -c -F -- "$2" || true; }
}
mark() { wc -l < "$W/log/freeswitch.log"; }

echo "== 30 calls to the balancing group 9000, one a second, 6 s each"
m=$(mark); calls 30 9000; wait_idle
answered "$m"

echo "== a direct call to 1001 (25 s); meanwhile 8 group calls"
cli "global_setvar agent_talk_ms=25000" >/dev/null
cli "bgapi originate loopback/1001/a.example &park" >/dev/null
sleep 3
cli "lua ringlb_fusionpbx.lua status 9000@a.example"
cli "global_setvar agent_talk_ms=3000" >/dev/null
m=$(mark); calls 8 9000; wait_idle
answered "$m"

echo "== 1002 on do-not-disturb; 8 group calls"
directory 1002; cli "reloadxml" >/dev/null
m=$(mark); calls 8 9000; wait_idle
answered "$m"
echo "calls that skipped 1002 for do-not-disturb: $(count "$m" "do not disturb: user/1002@a.example skipped")"
directory ""; cli "reloadxml" >/dev/null

echo "== the rollover group 9001 (FusionPBX's own script), 4 calls one after another"
m=$(mark)
for i in 1 2 3 4; do cli "bgapi originate loopback/9001/a.example &park" >/dev/null; sleep 6; done
wait_idle
tail -n +"$m" "$W/log/freeswitch.log" | { grep -o "app_data: .*" || true; } | cut -c1-200 | sort | uniq -c
for e in 1001 1002 1003 1004; do echo "rollover legs to $e: $(count "$m" "New Channel loopback/agent-$e/agents-a")"; done

echo "== every count after the calls"
cli "lua ringlb_fusionpbx.lua status 9000@a.example"
cli "lua ringlb_admin.lua status fusionpbx"
cli "lua ringlb_admin.lua holds fusionpbx"
echo "ERR lines in the log: $(count 1 "[ERR]")"
{ grep -F "[ERR]" "$W/log/freeswitch.log" || true; } | cut -d' ' -f4- | sort | uniq -c | sort -rn | head -8

echo "== stopping FreeSWITCH; ringlb-fusionpbx off"
cli "shutdown" >/dev/null || true
for _ in $(seq 1 50); do kill -0 "$fspid" 2>/dev/null || break; sleep 0.2; done
fspid=
"$W/bin/ringlb-fusionpbx" -config "$W/ProgramData/fusionpbx/config.conf" -backup "$W/backup" off
for f in app/ring_groups/ring_group_edit.php app/ring_groups/app_languages.php app/switch/resources/scripts/app/ring_groups/index.lua; do
  cmp "$W/fresh/$f" "$W/www/$f" && echo "identical to FusionPBX's: $f"
done
cmp "$W/fresh-scripts/app/ring_groups/index.lua" "$W/scripts/app/ring_groups/index.lua" && echo "identical to FusionPBX's: <scripts>/app/ring_groups/index.lua"
