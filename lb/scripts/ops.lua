-- ops.lua runs the operations of a call's path (next, acquire, release,
-- answered, and drops of doubtful holds) in order, one or many per script call: simultaneous callers of
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
  local fields = {}
  for i = 1, n do
    fields[i] = ARGV[o + 3 + i]
  end
  fields[n + 1] = call_field(call)
  -- One read: every destination's record, the call's holds.
  local v = read(fields, n + 1, call)
  local list = holds_of(v[n + 1])
  if #list > 0 then
    for _, h in ipairs(list) do
      for i = 1, n do
        if fields[i] == h.dest then
          local mine = 0
          if h.node == node then mine = 1 end
          return {2, i, mine}
        end
      end
    end
  end
  local caps, keys = numbers(ARGV[o + 2]), numbers(ARGV[o + 3])

  -- Ranking rule of order.go: load, then the tie key (fewest: score, then
  -- lru), then list position; unscored members score the group's lowest.
  local fewest, lru = tie == "fewest", tie == "lru"
  local loads, scores, seqs, ok = {}, {}, {}, {}
  local low, any = 0, false
  for i = 1, n do
    local l, d, w, q, sa, sc = decode(v[i])
    local s = false
    local usable = d == 0 and clock >= w
    if fewest and usable and sa ~= 0 then
      s = fade(sc, sa, clock, half)
      if not any or s < low then low, any = s, true end
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
  local r = rec_of(v[best])
  if fewest and r.score_at == 0 then
    -- First seen mid-shift: it starts level with the least busy.
    r.score, r.score_at = low, clock
  end
  -- The call may hold destinations outside this list: they stay.
  hold(fields[best], call, r, list, lease, maxage, node, "r")
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
  local v = read({dest, call_field(call)}, 2, call)
  local r, list = rec_of(v[1]), holds_of(v[2])
  local k = find(list, dest)
  if k then
    local mine = 0
    if list[k].node == node then mine = 1 end
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
  hold(dest, call, r, list, lease, age, node, state)
  return {1, r.cnt, 1}
end

-- op_release drops holds; many at once when queued releases are retried.
-- Arguments: per hold, member ("<dest>\n<call>") and the wrap-up of its
-- destination (ms).
-- Reply: per hold, 1 if it was held, else 0 (also when its lease had run
-- out: nothing was held to release).
local function op_release(o, count)
  local out = {}
  for i = o + 1, o + count, 2 do
    local m = ARGV[i]
    local dest, call = split_member(m)
    local v = read({dest, call_field(call)}, 2, call)
    local list = holds_of(v[2])
    local k = find(list, dest)
    if k then
      local h = drop_at(dest, call, rec_of(v[1]), list, k, tonumber(ARGV[i + 1]))
      if h.node ~= node then
        note_gone(m) -- another node's hold: it must not take it back
      end
      out[#out + 1] = 1
    else
      redis.call("ZREM", K_EXP, m)
      out[#out + 1] = 0
    end
  end
  return out
end

-- op_answered marks a hold answered: ringing turns to talking, and the
-- destination's answered count and fewest score grow by one call.
-- Arguments: member ("<dest>\n<call>").
-- Reply: 1 if it was ringing, 0 if not held or already talking.
local function op_answered(o)
  local dest, call = split_member(ARGV[o + 1])
  local v = read({dest, call_field(call)}, 2, call)
  local list = holds_of(v[2])
  local k = find(list, dest)
  if not k or list[k].state ~= "r" then
    return 0
  end
  list[k].state = "t"
  local r = rec_of(v[1])
  r.talking = r.talking + 1
  if r.talking > r.cnt then r.talking = r.cnt end
  r.answered = r.answered + 1
  r.score, r.score_at = fade(r.score, r.score_at, clock, half) + 1, clock
  save(dest, r, call, list)
  return 1
end

-- op_drop drops holds that an operation whose caller got an error may
-- have taken (a timeout while the script was queued in a stalled server):
-- each only if it is this node's and still ringing, so that a hold the
-- call went on with, or another node's, is never touched.
-- Arguments: members ("<dest>\n<call>").
-- Reply: per hold, 1 if it was dropped, else 0.
local function op_drop(o, count)
  local out = {}
  for i = o + 1, o + count do
    local dest, call = split_member(ARGV[i])
    local v = read({dest, call_field(call)}, 2, call)
    local list = holds_of(v[2])
    local k = find(list, dest)
    if k and list[k].node == node and list[k].state == "r" then
      drop_at(dest, call, rec_of(v[1]), list, k, 0)
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
  end
  return out
end

local ops = {n = op_next, a = op_acquire, r = op_release, w = op_answered, d = op_drop}

begin()
local out = {}
local i = 7
while i <= #ARGV do
  local count = tonumber(ARGV[i + 1])
  out[#out + 1] = ops[ARGV[i]](i + 1, count)
  i = i + 2 + count
end
return out
