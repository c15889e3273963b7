-- prelude.lua is prepended to every ringlb script (see redis_scripts.go), so the
-- key layout, the clock and the reaping rule are written once.
--
-- KEYS, the same for every script (all share the hash tag {<name>}):
--   1 hold  HASH  "<dest>\n<call>" -> "<start_ms>\n<hard_ms>\n<state>\n<node>",
--                 state "r" ringing or "t" talking (answered)
--   2 exp   ZSET  "<dest>\n<call>" scored by the lease expiry (ms), never
--                 later than hard_ms when hard_ms > 0
--   3 mem   HASH  dest -> its member record, one string (see rec_of): a
--                 group's whole state is one HMGET, a change one HSET
--   4 ctr   STRING counter behind the lru order
--   5 idle  ZSET  destinations without a hold, by when they became idle
--                 (ms): beyond MAX_IDLE the oldest are forgotten
--   6 gone  ZSET  "<dest>\n<call>" of holds dropped for good (reset, past
--                 their maximum age, released by another node), scored by
--                 when the note lapses (ms, GONE_KEEP later): renewal tells
--                 them from holds lost in a failover, which it takes back
-- ARGV, by one convention for every script: ARGV[1] is the most lapsed
-- holds the script may drop (reaping is bounded per call), and the
-- script's own arguments follow from ARGV[2]. Every script starts with
-- begin(), which reads the clock and reaps.
--
-- Destinations and call ids never hold control characters (checked in
-- Go), so "\n" separates them.
local K_HOLD, K_EXP, K_MEM, K_CTR, K_IDLE, K_GONE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

-- MAX_IDLE is how many destinations without a hold a balancer's keys
-- remember (their lru order, calls started and answered), as the memory
-- backend's default max_idle: the state of a destination idle longest
-- beyond it is forgotten, so any stream of distinct destinations keeps
-- Redis's memory bounded. Drained destinations are always kept.
local MAX_IDLE = 10000

-- GONE_KEEP is how long a note in gone lasts (ms): longer than a renewal
-- period (lease/3, and leases are at most an hour).
local GONE_KEEP = 3600000

-- clock is the script's time, read once by begin().
local clock = 0

local function member(dest, call)
  return dest .. "\n" .. call
end

local function dest_of(m)
  return string.sub(m, 1, string.find(m, "\n", 1, true) - 1)
end

-- A member record is ten numbers separated by spaces. First what ranking
-- reads (RANK, one cheap match per destination in next): live holds,
-- drained (1 or 0), end of wrap-up (ms), lru order of the last hold start
-- (0 = never), when the answered score last changed (ms; 0 = no score
-- yet), the answered score; then talking holds, last hold start (ms), holds
-- started, calls answered. redis_records.go reads the same format.
local RANK = "^(%d+) (%d) (%d+) (%d+) (%d+) (%S+)"
local REC = "^(%d+) (%d) (%d+) (%d+) (%d+) (%S+) (%d+) (%d+) (%d+) (%d+)$"

local function rec_of(s)
  if s then
    local c, d, w, q, sa, sc, t, l, st, a = string.match(s, REC)
    if c then
      return {cnt = tonumber(c), drained = tonumber(d), wrap = tonumber(w), seq = tonumber(q),
        score_at = tonumber(sa), score = tonumber(sc), talking = tonumber(t), last = tonumber(l),
        started = tonumber(st), answered = tonumber(a)}
    end
  end
  return {cnt = 0, drained = 0, wrap = 0, seq = 0, score_at = 0, score = 0, talking = 0, last = 0,
    started = 0, answered = 0}
end

local function put(dest, r)
  redis.call("HSET", K_MEM, dest, string.format("%d %d %d %d %d %.17g %d %d %d %d", r.cnt, r.drained,
    r.wrap, r.seq, r.score_at, r.score, r.talking, r.last, r.started, r.answered))
end

-- fade is an answered score, last changed at, as it weighs at now: it
-- halves every half ms (half <= 0: never).
local function fade(score, at, now, half)
  if half <= 0 or now <= at or score == 0 then
    return score
  end
  return score * 2 ^ (-(now - at) / half)
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
    local r = rec_of(redis.call("HGET", K_MEM, d))
    if r.cnt == 0 and r.drained == 0 then
      redis.call("HDEL", K_MEM, d)
    end
  end
end

-- mark_idle notes that dest has no hold from now on.
local function mark_idle(dest)
  redis.call("ZADD", K_IDLE, clock, dest)
  forget_idle()
end

-- hold_field returns field i (1 start, 2 hard, 3 state, 4 node) of a
-- hold record.
local function hold_field(h, i)
  local s = 1
  for _ = 2, i do
    local j = string.find(h, "\n", s, true)
    if not j then return "" end
    s = j + 1
  end
  if i == 4 then return string.sub(h, s) end
  local j = string.find(h, "\n", s, true)
  return string.sub(h, s, (j or 0) - 1)
end

-- note_gone notes that hold m ended for good, so that its node's renewal
-- does not take it back.
local function note_gone(m)
  redis.call("ZADD", K_GONE, clock + GONE_KEEP, m)
end

-- drop removes hold m if it exists and returns its record (false if there
-- was none); the count of its destination follows, and never goes below
-- zero. A talking hold that ends starts its member's wrap-up of wrap ms.
local function drop(m, wrap)
  local h = redis.call("HGET", K_HOLD, m)
  redis.call("ZREM", K_EXP, m)
  if not h then
    return false
  end
  redis.call("HDEL", K_HOLD, m)
  local dest = dest_of(m)
  local r = rec_of(redis.call("HGET", K_MEM, dest))
  if r.cnt > 0 then r.cnt = r.cnt - 1 end
  if string.find(h, "\nt\n", 1, true) then
    if r.talking > 0 then r.talking = r.talking - 1 end
    if wrap > 0 and clock + wrap > r.wrap then r.wrap = clock + wrap end
  end
  if r.talking > r.cnt then r.talking = r.cnt end
  put(dest, r)
  if r.cnt == 0 then
    mark_idle(dest)
  end
  return h
end

-- expire drops hold m, whose lease or maximum age ran out. Past its
-- maximum age it is gone for good; a lapsed lease is not: its node, if
-- alive, takes the hold back.
local function expire(m)
  local h = drop(m, 0)
  if h then
    local hard = tonumber(hold_field(h, 2)) or 0
    if hard > 0 and hard <= clock then note_gone(m) end
  end
end

-- begin reads the server clock, the one clock all nodes share, and drops
-- up to ARGV[1] holds whose lease or maximum age ran out, so every script
-- does bounded work however many lapsed at once. It returns the time.
local function begin()
  local t = redis.call("TIME")
  clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local gone = redis.call("ZRANGEBYSCORE", K_EXP, "-inf", clock, "LIMIT", 0, tonumber(ARGV[1]))
  for i = 1, #gone do
    expire(gone[i])
  end
  return clock
end

-- lapsed reports whether hold m's lease ran out although no reap has
-- dropped it yet (reaping is bounded per call); such a hold is gone.
local function lapsed(m, now)
  local e = redis.call("ZSCORE", K_EXP, m)
  return e ~= false and e ~= nil and tonumber(e) <= now
end

-- hold records a new hold of call on dest, member record r, started now
-- in state ("r" or "t").
local function hold(dest, r, m, now, lease, maxage, node, state)
  local hard = 0
  local exp = now + lease
  if maxage > 0 then
    hard = now + maxage
    if hard < exp then exp = hard end
  end
  redis.call("HSET", K_HOLD, m, now .. "\n" .. hard .. "\n" .. state .. "\n" .. node)
  redis.call("ZADD", K_EXP, exp, m)
  if r.cnt == 0 then
    redis.call("ZREM", K_IDLE, dest)
  end
  r.cnt = r.cnt + 1
  if state == "t" then r.talking = r.talking + 1 end
  r.seq = redis.call("INCR", K_CTR)
  r.last = now
  r.started = r.started + 1
  put(dest, r)
end
