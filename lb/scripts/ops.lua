-- ops.lua runs the operations of a call's path (next, acquire, release,
-- answered) in order, one or many per script call: simultaneous callers of
-- one process share a script call (see redis_batch.go), so Redis's cost per
-- request, the clock read and the reaping are paid once per batch, while
-- each operation stays atomic and sees the ones before it.
-- ARGV: reap_limit, node, lease_ms, max_age_ms, tie (fewest|lru|list|
--       random), half_life_ms, then per operation: its kind, how many
--       arguments follow, the arguments (see each op_ function).
-- Reply: one reply per operation, in order.
local node, lease, maxage, tie, half =
  ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])

local function numbers(list)
  if list == "" then return nil end
  local out = {}
  for x in string.gmatch(list, "[^,]+") do out[#out + 1] = tonumber(x) end
  return out
end

-- op_next chooses the least-loaded destination with room and holds it for
-- a call, in one step.
-- Arguments: call, capacities, random keys, then the destinations.
--   capacities: "" when no destination has one, else one number per
--   destination (0 = none) separated by commas; random keys: "" unless tie
--   is random, else one number per destination. Every argument costs the
--   server, so what is not needed is not sent.
-- Reply: {2, i, mine} when the call already holds destination i (mine = 1
-- if this node owns that hold), {1, i, 1} for a new hold, {0, 0, 0} when
-- every destination is drained, in wrap-up or full.
local function op_next(o, count)
  local call = ARGV[o + 1]
  local n = count - 3
  local dests, members = {}, {}
  for i = 1, n do
    dests[i] = ARGV[o + 3 + i]
    members[i] = member(dests[i], call)
  end
  local caps, keys = numbers(ARGV[o + 2]), numbers(ARGV[o + 3])

  local holds = redis.call("HMGET", K_HOLD, unpack(members))
  for i = 1, n do
    if holds[i] and lapsed(members[i], clock) then
      expire(members[i]) -- lapsed but not reaped yet: it is gone
      holds[i] = false
    end
    if holds[i] then
      local mine = 0
      if hold_field(holds[i], 4) == node then mine = 1 end
      return {2, i, mine}
    end
  end

  -- Ranking rule of order.go: load, then the tie key (fewest: score, then
  -- lru), then list position; unscored members score the group's lowest.
  -- Only what ranking reads is parsed (RANK); the chosen member's record
  -- is read whole below.
  local raw = redis.call("HMGET", K_MEM, unpack(dests))
  local fewest, lru = tie == "fewest", tie == "lru"
  local loads, scores, seqs, ok = {}, {}, {}, {}
  local low, any = 0, false
  for i = 1, n do
    local l, s, q = 0, false, 0
    local usable = true
    if raw[i] then
      local c, d, w, sq, sa, sc = string.match(raw[i], RANK)
      l = tonumber(c) or 0
      q = tonumber(sq) or 0
      usable = d == "0" and clock >= (tonumber(w) or 0)
      if fewest and usable and sa ~= "0" then
        s = fade(tonumber(sc) or 0, tonumber(sa), clock, half)
        if not any or s < low then low, any = s, true end
      end
    end
    local cap = caps and caps[i] or 0
    ok[i] = usable and (cap == 0 or l < cap)
    loads[i], scores[i], seqs[i] = l, s, q
  end
  local best, bl, bs, bt = nil, 0, 0, 0
  for i = 1, n do
    if ok[i] then
      local l, s, t = loads[i], 0, 0
      if fewest then
        s = scores[i] or low
        t = seqs[i]
      elseif lru then
        t = seqs[i]
      elseif tie == "random" then
        t = keys[i]
      end
      if best == nil or l < bl or (l == bl and (s < bs or (s == bs and t < bt))) then
        best, bl, bs, bt = i, l, s, t
      end
    end
  end
  if best == nil then
    return {0, 0, 0}
  end
  local r = rec_of(raw[best])
  if fewest and r.score_at == 0 then
    -- First seen mid-shift: it starts level with the least busy.
    r.score, r.score_at = low, clock
  end
  hold(dests[best], r, members[best], clock, lease, maxage, node, "r")
  return {1, best, 1}
end

-- op_acquire holds one destination for a call.
-- Arguments: call, capacity (0 = none), dest, how, max_age_ms. how: "" for
-- a new call; "count" for a call that exists already; "reassert" or
-- "reassert-talking" when a node takes back the hold of a call still up
-- that Redis lost (a lapse during an outage, a failover). Drain and
-- capacity stop none but "": the call is up.
-- Reply: {1, load, 1} acquired (load after it); {0, load, mine} already
-- held (mine = 1 if this node owns the hold); {-1, load, 0} drained;
-- {-2, load, 0} full.
local function op_acquire(o)
  local call, cap, dest, how, age =
    ARGV[o + 1], tonumber(ARGV[o + 2]), ARGV[o + 3], ARGV[o + 4], tonumber(ARGV[o + 5])
  local m = member(dest, call)
  local h = redis.call("HGET", K_HOLD, m)
  if h and lapsed(m, clock) then
    expire(m) -- lapsed but not reaped yet: it is gone
    h = false
  end
  local r = rec_of(redis.call("HGET", K_MEM, dest))
  if h then
    local mine = 0
    if hold_field(h, 4) == node then mine = 1 end
    return {0, r.cnt, mine}
  end
  if how == "" and r.drained == 1 then
    return {-1, r.cnt, 0}
  end
  if how == "" and cap > 0 and r.cnt >= cap then
    return {-2, r.cnt, 0}
  end
  local state = "r"
  if how == "reassert-talking" then state = "t" end
  hold(dest, r, m, clock, lease, age, node, state)
  return {1, r.cnt, 1}
end

-- op_release drops holds; many at once when queued releases are retried.
-- Arguments: per hold, member ("<dest>\n<call>") and the wrap-up of its
-- destination (ms).
-- Reply: per hold, 1 if it was held, else 0.
local function op_release(o, count)
  local out = {}
  for i = o + 1, o + count, 2 do
    local m = ARGV[i]
    if lapsed(m, clock) then
      expire(m) -- it had already lapsed: nothing was held to release
      out[#out + 1] = 0
    else
      local h = drop(m, tonumber(ARGV[i + 1]))
      if h and hold_field(h, 4) ~= node then
        note_gone(m) -- another node's hold: it must not take it back
      end
      out[#out + 1] = h and 1 or 0
    end
  end
  return out
end

-- op_answered marks a hold answered: ringing turns to talking, and the
-- destination's answered count and fewest score grow by one call.
-- Arguments: member ("<dest>\n<call>").
-- Reply: 1 if it was ringing, 0 if not held or already talking.
local function op_answered(o)
  local m = ARGV[o + 1]
  local h = redis.call("HGET", K_HOLD, m)
  if not h or lapsed(m, clock) or hold_field(h, 3) ~= "r" then
    return 0
  end
  redis.call("HSET", K_HOLD, m, hold_field(h, 1) .. "\n" .. hold_field(h, 2) .. "\nt\n" .. hold_field(h, 4))
  local dest = dest_of(m)
  local r = rec_of(redis.call("HGET", K_MEM, dest))
  r.talking = r.talking + 1
  if r.talking > r.cnt then r.talking = r.cnt end
  r.answered = r.answered + 1
  r.score, r.score_at = fade(r.score, r.score_at, clock, half) + 1, clock
  put(dest, r)
  return 1
end

local ops = {n = op_next, a = op_acquire, r = op_release, w = op_answered}

begin()
local out = {}
local i = 7
while i <= #ARGV do
  local count = tonumber(ARGV[i + 1])
  out[#out + 1] = ops[ARGV[i]](i + 1, count)
  i = i + 2 + count
end
return out
