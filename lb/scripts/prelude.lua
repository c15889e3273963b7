-- prelude.lua is prepended to every ringlb script (see redis_scripts.go), so the
-- key layout, the clock and the reaping rule are written once.
--
-- KEYS, the same for every script (all share the hash tag {<name>}):
--   1 holds    HASH  "<dest>\n<call>" -> "<start_ms>\n<hard_ms>\n<node>"
--   2 exp      ZSET  "<dest>\n<call>" scored by the lease expiry (ms),
--                    never later than hard_ms when hard_ms > 0
--   3 idx      ZSET  "<dest>\n<call>" with score 0: a lexicographic index,
--                    so one destination's holds are a ZRANGEBYLEX
--   4 seq      HASH  dest -> order of its last hold start (lru ties)
--   5 last     HASH  dest -> start of its last hold (ms)
--   6 started  HASH  dest -> holds started
--   7 ctr      STRING counter behind seq
--   8 drained  SET   drained destinations
--   9 known    SET   destinations ever held, acquired or drained
--  10 cnt      HASH  dest -> live holds, kept in step with holds by hold and
--                    drop (one HMGET reads a whole group's loads); a count
--                    is deleted at zero and never goes below it
--  11 idle     ZSET  destinations without a hold, by when they became idle
--                    (ms): beyond MAX_IDLE the oldest are forgotten
-- ARGV, by one convention for every script: ARGV[1] is the most lapsed
-- holds the script may drop (reaping is bounded per call), and the
-- script's own arguments follow from ARGV[2]. Every script starts with
-- begin(), which reads the clock and reaps.
--
-- Destinations and call ids never hold control characters (checked in
-- Go), so "\n" separates them and "\11" (the byte after "\n") ends a
-- destination's range in idx.
local K_HOLDS, K_EXP, K_IDX, K_SEQ, K_LAST, K_STARTED, K_CTR, K_DRAINED, K_KNOWN, K_CNT, K_IDLE =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]

-- MAX_IDLE is how many destinations without a hold a balancer's keys
-- remember (their lru order, last call, calls started), as the memory
-- backend's default max_idle: the state of a destination idle longest
-- beyond it is forgotten, so any stream of distinct destinations keeps
-- Redis's memory bounded. A forgotten one ranks as never used, which is
-- where lru puts it anyway. Drained destinations are always kept.
local MAX_IDLE = 10000

-- clock is the script's time, read once by begin().
local clock = 0

-- now_ms reads the server clock, the one clock all nodes share.
local function now_ms()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function member(dest, call)
  return dest .. "\n" .. call
end

-- forget_idle drops the state of the destinations idle longest beyond
-- MAX_IDLE, a few per call: each call marks at most one idle.
local function forget_idle()
  local over = redis.call("ZCARD", K_IDLE) - MAX_IDLE
  if over <= 0 then return end
  local old = redis.call("ZRANGE", K_IDLE, 0, math.min(over, 8) - 1)
  for i = 1, #old do
    local d = old[i]
    redis.call("ZREM", K_IDLE, d)
    if redis.call("HEXISTS", K_CNT, d) == 0 and redis.call("SISMEMBER", K_DRAINED, d) == 0 then
      redis.call("HDEL", K_SEQ, d)
      redis.call("HDEL", K_LAST, d)
      redis.call("HDEL", K_STARTED, d)
      redis.call("SREM", K_KNOWN, d)
    end
  end
end

-- mark_idle notes that dest has no hold from now on.
local function mark_idle(dest)
  redis.call("ZADD", K_IDLE, clock, dest)
  forget_idle()
end

-- drop removes hold m if it exists and reports whether it did; the count
-- of its destination follows, and never goes below zero.
local function drop(m)
  local had = redis.call("HDEL", K_HOLDS, m)
  redis.call("ZREM", K_EXP, m)
  redis.call("ZREM", K_IDX, m)
  if had == 0 then
    return 0
  end
  local dest = string.sub(m, 1, string.find(m, "\n", 1, true) - 1)
  if redis.call("HINCRBY", K_CNT, dest, -1) <= 0 then
    redis.call("HDEL", K_CNT, dest)
    mark_idle(dest)
  end
  return 1
end

-- reap drops at most limit holds whose lease or maximum age ran out, so
-- every script does bounded work however many holds lapsed at once.
local function reap(now, limit)
  local gone = redis.call("ZRANGEBYSCORE", K_EXP, "-inf", now, "LIMIT", 0, limit)
  for i = 1, #gone do
    drop(gone[i])
  end
  return #gone
end

-- begin reads the server clock and reaps up to ARGV[1] lapsed holds; every
-- script starts with it. It returns the time.
local function begin()
  clock = now_ms()
  reap(clock, tonumber(ARGV[1]))
  return clock
end

-- lapsed reports whether hold m's lease ran out although no reap has
-- dropped it yet (reaping is bounded per call); such a hold is gone.
local function lapsed(m, now)
  local e = redis.call("ZSCORE", K_EXP, m)
  return e ~= false and e ~= nil and tonumber(e) <= now
end

local function load(dest)
  return tonumber(redis.call("HGET", K_CNT, dest)) or 0
end

-- loads returns the live holds of every destination in dests, in one call.
local function loads(dests)
  local c = redis.call("HMGET", K_CNT, unpack(dests))
  for i = 1, #dests do
    c[i] = tonumber(c[i]) or 0
  end
  return c
end

-- owner returns the node of a hold record.
local function owner(rec)
  local i = string.find(rec, "\n", 1, true)
  if not i then return "" end
  i = string.find(rec, "\n", i + 1, true)
  if not i then return "" end
  return string.sub(rec, i + 1)
end

-- hard_of returns the hard expiry of a hold record; 0 is none.
local function hard_of(rec)
  local i = string.find(rec, "\n", 1, true)
  if not i then return 0 end
  local j = string.find(rec, "\n", i + 1, true)
  if not j then return 0 end
  return tonumber(string.sub(rec, i + 1, j - 1)) or 0
end

-- hold records a new hold of call on dest, started now.
local function hold(dest, call, m, now, lease, maxage, node)
  local hard = 0
  local exp = now + lease
  if maxage > 0 then
    hard = now + maxage
    if hard < exp then exp = hard end
  end
  redis.call("HSET", K_HOLDS, m, now .. "\n" .. hard .. "\n" .. node)
  redis.call("ZADD", K_EXP, exp, m)
  redis.call("ZADD", K_IDX, 0, m)
  redis.call("HINCRBY", K_CNT, dest, 1)
  local seq = redis.call("INCR", K_CTR)
  redis.call("HSET", K_SEQ, dest, seq)
  redis.call("HSET", K_LAST, dest, now)
  redis.call("HINCRBY", K_STARTED, dest, 1)
  redis.call("SADD", K_KNOWN, dest)
  redis.call("ZREM", K_IDLE, dest)
end
