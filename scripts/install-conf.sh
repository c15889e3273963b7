#!/bin/sh
# install-conf.sh [--check] CONFDIR - put ringlb's FreeSWITCH configuration
# into CONFDIR (/etc/freeswitch), never silently and never losing a line of
# the operator's:
#
#   autoload_configs/lua.conf.xml  a missing file is copied. An existing one
#       (every switch has one) gets the <param> and <hook> elements of the
#       shipped file that it lacks (module and script directories, the
#       call-tracking hooks, startup scripts: whatever the shipped file
#       carries), added at the top of its <settings>, after a backup of
#       the file; elements it already has, commented-out ones aside, are
#       left alone, so a second run changes nothing. mod_lua appends every
#       module-directory and script-directory entry to the search paths,
#       so adding ours keeps the operator's; a shipped setting that holds
#       one value (any other <param>) is never added over a different value
#       of the operator's: that is reported instead.
#   dialplan/default/ringlb.xml, vars_ringlb.xml  ringlb's own examples: a
#       missing file is copied; an existing one is kept, and if it differs
#       from the shipped one the difference is shown.
#
# --check changes nothing: it says what a run would add or copy (the
# Debian package's post-install step runs this). Exit status: 0 done (or
# nothing to do), 1 a file could not be merged (said why), 2 usage.
set -eu
usage() { echo "usage: install-conf.sh [--check] CONFDIR" >&2; exit 2; }
check=
case "${1:-}" in
  --check) check=1; shift ;;
  -*) usage ;;
esac
[ $# -eq 1 ] && [ -n "$1" ] || usage
confdir=${1%/}
here=$(cd "$(dirname "$0")" && pwd)
# The shipped configuration: freeswitch-conf/ beside this script (the
# package) or one level up (the source tree, scripts/).
src=
for d in "$here/freeswitch-conf" "$here/../freeswitch-conf"; do
  if [ -f "$d/autoload_configs/lua.conf.xml" ]; then src=$d; break; fi
done
[ -n "$src" ] || { echo "install-conf.sh: no freeswitch-conf/ beside $here" >&2; exit 1; }

# elements FILE: one line per <param> or <hook> element outside comments:
# its canonical key (element and attributes, sorted, an empty subclass
# dropped), a tab, the single-value key (param|NAME for a param that holds
# one value, else empty), a tab, its value, a tab, and the element as written.
elements() {
  awk '
    { text = text $0 "\n" }
    END {
      # Comments out: a disabled element is not an element.
      out = ""
      while (index(text, "<!--") > 0) {
        i = index(text, "<!--")
        out = out substr(text, 1, i - 1)
        rest = substr(text, i + 4)
        j = index(rest, "-->")
        if (j == 0) { text = ""; break }
        text = substr(rest, j + 3)
      }
      text = out text
      while (match(text, /<(param|hook)[ \t\r\n][^>]*>/)) {
        tag = substr(text, RSTART, RLENGTH)
        text = substr(text, RSTART + RLENGTH)
        elem = tag; sub(/^</, "", elem); sub(/[ \t\r\n].*$/, "", elem)
        n = 0; rest = tag; name = ""; value = ""
        while (match(rest, /[A-Za-z_:-]+[ \t\r\n]*=[ \t\r\n]*("[^"]*"|\047[^\047]*\047)/)) {
          attr = substr(rest, RSTART, RLENGTH)
          rest = substr(rest, RSTART + RLENGTH)
          k = attr; sub(/[ \t\r\n]*=.*$/, "", k)
          v = attr; sub(/^[^=]*=[ \t\r\n]*/, "", v); v = substr(v, 2, length(v) - 2)
          if (k == "subclass" && v == "") continue
          if (k == "name") name = v
          if (k == "value") value = v
          pair = k "=\"" v "\""
          # Insertion sort: a handful of attributes.
          for (p = n; p > 0 && a[p] > pair; p--) a[p + 1] = a[p]
          a[p + 1] = pair; n++
        }
        key = elem
        for (p = 1; p <= n; p++) key = key " " a[p]
        single = ""
        if (elem == "param" && name != "module-directory" && name != "script-directory" && name != "startup-script")
          single = "param|" name
        flat = tag; gsub(/[\t\r\n]+/, " ", flat)
        print key "\t" single "\t" value "\t" flat
      }
    }' "$1"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

lua_conf() {
  shipped=$src/autoload_configs/lua.conf.xml
  target=$confdir/autoload_configs/lua.conf.xml
  if [ ! -e "$target" ]; then
    if [ -n "$check" ]; then
      echo "$target: missing; install-conf would copy the shipped one ($shipped)"
    else
      install -d "$confdir/autoload_configs"
      cp "$shipped" "$target"
      echo "$target: installed (there was none)"
    fi
    return 0
  fi
  elements "$shipped" >"$tmp/shipped"
  elements "$target" >"$tmp/theirs"
  # What the target lacks, and shipped single-value settings it holds with
  # another value (kept: that value is the operator's choice).
  awk -F '\t' -v add="$tmp/add" -v clash="$tmp/clash" '
    FILENAME == ARGV[1] { have[$1] = 1; if ($2 != "") val[$2] = $3; next }
    $1 in have { next }
    $2 != "" && ($2 in val) { print $4 " (yours: value=\"" val[$2] "\")" > clash; next }
    { print $4 > add }' "$tmp/theirs" "$tmp/shipped"
  touch "$tmp/add" "$tmp/clash"
  if [ -s "$tmp/clash" ]; then
    echo "$target: keeps your value of these settings; ringlb ships:"
    sed 's/^/    /' "$tmp/clash"
  fi
  if [ ! -s "$tmp/add" ]; then
    echo "$target: has every ringlb line already; left as it is"
    return 0
  fi
  if [ -n "$check" ]; then
    echo "$target: add these lines inside <settings> (or run install-conf.sh $confdir):"
    sed 's/^/    /' "$tmp/add"
    return 0
  fi
  # The backup must not end in .xml: FreeSWITCH loads autoload_configs/*.xml.
  backup=$target.ringlb-$(date +%Y%m%d-%H%M%S).bak
  n=0
  while [ -e "$backup" ]; do n=$((n + 1)); backup=$target.ringlb-$(date +%Y%m%d-%H%M%S)-$n.bak; done
  # The merged file starts as a copy, so it keeps the original's owner and mode.
  cp -p "$target" "$tmp/merged"
  if ! awk -v add="$tmp/add" -v backup="${backup##*/}" '
    BEGIN { done = 0; incomment = 0 }
    done { print; next }
    {
      line = $0; pre = ""
      # Find <settings> outside comments on this line.
      while (line != "") {
        if (incomment) {
          j = index(line, "-->")
          if (j == 0) { pre = pre line; line = ""; break }
          pre = pre substr(line, 1, j + 2); line = substr(line, j + 3); incomment = 0
          continue
        }
        c = index(line, "<!--")
        if (match(line, /<settings[ \t]*>/) && (c == 0 || RSTART < c)) {
          head = pre substr(line, 1, RSTART + RLENGTH - 1)
          tail = substr(line, RSTART + RLENGTH)
          print head
          print "    <!-- added for ringlb by install-conf (the file before: " backup ") -->"
          while ((getline l < add) > 0) print "    " l
          if (tail ~ /[^ \t]/) print tail
          done = 1; line = ""; pre = ""
          next
        }
        if (c == 0) { pre = pre line; line = ""; break }
        pre = pre substr(line, 1, c + 3); line = substr(line, c + 4); incomment = 1
      }
      print pre
    }
    END { if (!done) exit 3 }' "$target" >"$tmp/merged"; then
    echo "$target: no <settings> element found; add these lines inside its <settings>:"
    sed 's/^/    /' "$tmp/add"
    failed=1
    return 0
  fi
  cp -p "$target" "$backup"
  mv "$tmp/merged" "$target"
  echo "$target: added these lines (the file before is $backup):"
  sed 's/^/    /' "$tmp/add"
}

# own_file RELPATH: copy ringlb's own example if missing, else show how the
# operator's copy differs from the shipped one.
own_file() {
  shipped=$src/$1 target=$confdir/$1
  if [ ! -e "$target" ]; then
    if [ -n "$check" ]; then
      echo "$target: missing; install-conf would copy $shipped"
    else
      install -d "$(dirname "$target")"
      cp "$shipped" "$target"
      echo "$target: installed"
    fi
  elif cmp -s "$shipped" "$target"; then
    echo "$target: same as shipped"
  else
    echo "$target: yours is kept; the shipped one differs (- yours, + shipped):"
    diff -u "$target" "$shipped" | sed '1,2d; s/^/    /' || true
  fi
}

lua_conf
own_file dialplan/default/ringlb.xml
own_file vars_ringlb.xml
if grep -q '<X-PRE-PROCESS cmd="include" data="vars_ringlb.xml"/>' "$confdir/vars.xml" 2>/dev/null; then
  echo "$confdir/vars.xml: includes vars_ringlb.xml"
else
  echo "$confdir/vars.xml: to use vars_ringlb.xml, add to it"
  echo "    <X-PRE-PROCESS cmd=\"include\" data=\"vars_ringlb.xml\"/>"
fi
[ -n "$check" ] || echo "then restart FreeSWITCH: mod_lua cannot be reloaded, and runs its startup script only as it loads"
exit "$failed"
