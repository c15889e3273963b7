# tests/lib.sh - shell helpers the test runners share. Source it.

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
    for _ in $(seq 1 50); do
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
