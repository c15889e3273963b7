# tests/lib.sh - shell helpers the test runners share. Source it from the
# repository's root.
#
# Every tests/<dir>/run.sh takes one argument, the Lua flavour to test
# (5.1, 5.2, 5.3, 5.4 or jit; default $LUA, else 5.3), and `make <dir>test`
# runs it (for every flavour where the flavour matters).

# use_flavour [FLAVOUR]: the scripts/flavour.sh variables of the flavour a
# runner was given; so_dir made absolute. It fails unless that flavour's
# ringlb.so is built and its interpreter installed.
use_flavour() {
  . scripts/flavour.sh
  flavour "${1:-${LUA:-5.3}}" || exit 2
  if [ ! -f "$so_dir/ringlb.so" ]; then
    echo "$0: no $so_dir/ringlb.so: build it first (./build.sh ${1:-${LUA:-5.3}})" >&2
    exit 2
  fi
  command -v "$lua_interp" >/dev/null || { echo "$0: $lua_interp not installed (scripts/deps.sh)" >&2; exit 1; }
  so_dir=$PWD/$so_dir
  # Keep the environment from adding search paths of its own.
  unset LUA_PATH LUA_CPATH LUA_PATH_5_2 LUA_CPATH_5_2 LUA_PATH_5_3 LUA_CPATH_5_3 LUA_PATH_5_4 LUA_CPATH_5_4
}

# start_redis DIR [PORT]: start a redis-server on a free loopback port (or
# PORT) with its files in DIR, no persistence; sets redis_port and
# redis_url. The caller stops it with stop_redis DIR.
start_redis() {
  local dir=$1 want=${2:-} port
  command -v redis-server >/dev/null || { echo "FAIL: redis-server not installed (scripts/deps.sh)" >&2; return 1; }
  for _ in $(seq 1 20); do
    port=${want:-$((20000 + RANDOM % 30000))}
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null 2>&1 || continue
    for _ in $(seq 1 300); do
      if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
        redis_port=$port redis_url="redis://127.0.0.1:$port/0"
        return 0
      fi
      sleep 0.1
    done
  done
  echo "FAIL: redis-server did not start" >&2
  cat "$dir/redis.log" >&2 2>/dev/null
  return 1
}

# stop_redis DIR: stop the redis-server that start_redis DIR started.
stop_redis() {
  [ -f "$1/redis.pid" ] && kill "$(cat "$1/redis.pid")" 2>/dev/null
  rm -f "$1/redis.pid"
  return 0
}
