-- prelude.lua is prepended to every ringlb script (see redis.go), so the
-- key layout, the clock and the reaping rule are written once.
--
-- KEYS, the same for every script (all share the hash tag {<name>}):
--   1 holds    HASH  "<dest>\n<call>" -> "<start_ms>\n<hard_ms>\n<node>"
--   2 exp      ZSET  "<dest>\n<call>" scored by the lease expiry (ms),
--                    never later than hard_ms when hard_ms > 0
--   3 idx      ZSET  "<dest>\n<call>" with score 0: a lexicographic index,
--                    so one destination's load is a ZLEXCOUNT
--   4 seq      HASH  dest -> order of its last hold start (lru ties)
--   5 last     HASH  dest -> start of its last hold (ms)
--   6 started  HASH  dest -> holds started
--   7 ctr      STRING counter behind seq
--   8 drained  SET   drained destinations
--   9 known    SET   destinations ever held, acquired or drained
-- Destinations and call ids never hold control characters (checked in
-- Go), so "\n" separates them and "\11" (the byte after "\n") ends a
-- destination's range in idx.
local K_HOLDS, K_EXP, K_IDX, K_SEQ, K_LAST, K_STARTED, K_CTR, K_DRAINED, K_KNOWN =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]

-- now_ms reads the server clock, the one clock all nodes share.
local function now_ms()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function member(dest, call)
  return dest .. "\n" .. call
end

local function drop(m)
  redis.call("HDEL", K_HOLDS, m)
  redis.call("ZREM", K_EXP, m)
  redis.call("ZREM", K_IDX, m)
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

local function load(dest)
  return redis.call("ZLEXCOUNT", K_IDX, "[" .. dest .. "\n", "(" .. dest .. "\11")
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
  local seq = redis.call("INCR", K_CTR)
  redis.call("HSET", K_SEQ, dest, seq)
  redis.call("HSET", K_LAST, dest, now)
  redis.call("HINCRBY", K_STARTED, dest, 1)
  redis.call("SADD", K_KNOWN, dest)
end
