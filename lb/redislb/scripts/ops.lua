-- ops.lua runs operations in order, one or many per script call: the call's
-- path (next, acquire, release, answered, and drops of doubtful holds),
-- which simultaneous callers of one process share (see batch.go), so
-- Redis's cost per request, the clock read and the reaping are paid once
-- per batch while each operation stays atomic and sees the ones before it;
-- and order and load, each alone.
-- ARGV: reap_limit, node, lease_ms, max_age_ms, tie (fewest|lru|list|
--       random), half_life_ms, then per operation: its name (see the end),
--       how many arguments follow, the arguments (see each op_ function).
-- Reply: one reply per operation, in order.
local node, lease, maxage, tie, half =
  ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])

local function numbers(list)
  if list == "" then return nil end
  local out = {}
  for x in string.gmatch(list, "[^,]+") do out[#out + 1] = tonumber(x) end
  return out
end

-- The ranking rule, written once in Lua (lb/order.go is Go's, for the
-- memory backend; the conformance suite holds both to it): members that
-- are drained, in wrap-up or full are left out (load and the end of the
-- last answered call are the deployment's, see share_hold); the others go
-- by load,
-- then by tie (fewest: the answered score faded to now, then lru; lru:
-- the order of the last hold start; random: the caller's random key;
-- list: none), then by list position. A member never scored starts level
-- with the lowest score among the others.
local fewest, lru, random = tie == "fewest", tie == "lru", tie == "random"

-- candidates reads the records v[1..n] and the shared records sv[1..n]
-- and returns, for the members that may be offered, in list order: their
-- positions, and a function that reports whether the one at index a of
-- those ranks before the one at index b; and the lowest score, which the
-- members never scored took. caps are the capacities, wraps the wrap-ups
-- and keys the random keys, each one per member or nil (see op_next);
-- held[i] is true when the call asking holds member i in any balancer
-- already, which gives it room. Next and order run once per call and over
-- every member, so this reads each record into locals (decode's order,
-- see the prelude) rather than a table.
local function candidates(v, sv, n, caps, wraps, keys, held)
  local pos, loads, scores, ties = {}, {}, {}, {}
  local nc, low, any, unscored = 0, 0, false, false
  for i = 1, n do
    local _, drained, _, seq, score_at, score = decode(v[i])
    local cnt, _, ended = sdecode(sv[i])
    local cap = caps and caps[i] or 0
    local wrap = wraps and ended > 0 and wraps[i] or 0
    if drained == 0 and (wrap == 0 or clock >= ended + wrap) and
        (cap == 0 or cnt < cap or held and held[i]) then
      local s, t = 0, 0
      if fewest then
        t = seq
        if score_at == 0 then
          s, unscored = false, true
        else
          s = fade(score, score_at, clock, half)
          if not any or s < low then low, any = s, true end
        end
      elseif lru then
        t = seq
      elseif random then
        t = keys[i]
      end
      nc = nc + 1
      pos[nc], loads[nc], scores[nc], ties[nc] = i, cnt, s, t
    end
  end
  if unscored then
    for c = 1, nc do
      if not scores[c] then scores[c] = low end
    end
  end
  local function before(a, b)
    if loads[a] ~= loads[b] then return loads[a] < loads[b] end
    if scores[a] ~= scores[b] then return scores[a] < scores[b] end
    if ties[a] ~= ties[b] then return ties[a] < ties[b] end
    return a < b -- candidates are in list order
  end
  return pos, before, low
end

-- op_next chooses the least-loaded destination with room and holds it for
-- a call, in one step.
-- Arguments: call, capacities, wrap-ups, random keys, then the
-- destinations.
--   capacities: "" when no destination has one, else one number per
--   destination (0 = none) separated by commas; wrap-ups the same (ms);
--   random keys: "" unless tie is random, else one number per
--   destination. Every argument costs the server, so what is not needed
--   is not sent.
-- Reply: {2, i, mine} when the call already holds destination i (mine = 1
-- if this node owns that hold), {1, i, 1} for a new hold, {0, 0, 0} when
-- every destination is drained, in wrap-up or full.
local function op_next(o, count)
  local call = ARGV[o + 1]
  local n = count - 4
  local fields = {}
  for i = 1, n do
    fields[i] = ARGV[o + 4 + i]
  end
  fields[n + 1] = call_field(call)
  -- Two reads: every destination's record and the call's holds, here and
  -- in the deployment's load.
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
  local sv = redis.call("HMGET", K_LOAD, unpack(fields))
  local held
  if sv[n + 1] then
    held = {}
    for i = 1, n do held[i] = shares_held(sv[n + 1], fields[i]) end
  end
  local pos, before, low = candidates(v, sv, n, numbers(ARGV[o + 2]), numbers(ARGV[o + 3]),
    numbers(ARGV[o + 4]), held)
  if #pos == 0 then
    return {0, 0, 0}
  end
  local best = 1
  for c = 2, #pos do
    if before(c, best) then best = c end
  end
  best = pos[best]
  local r = rec_of(v[best])
  if fewest and r.score_at == 0 then
    -- First seen mid-shift: it starts level with the least busy.
    r.score, r.score_at = low, clock
  end
  -- The call may hold destinations outside this list: they stay.
  hold(fields[best], call, r, list, lease, maxage, node, RINGING, sv[best], sv[n + 1])
  return {1, best, 1}
end

-- op_order ranks destinations, leaving out those drained, in wrap-up or
-- full.
-- Arguments: capacities, wrap-ups, random keys (as op_next's), then the
-- destinations.
-- Reply: the positions of the destinations offered, best first.
local function op_order(o, count)
  local n = count - 3
  local dests = {}
  for i = 1, n do
    dests[i] = ARGV[o + 3 + i]
  end
  local v = redis.call("HMGET", K_MEM, unpack(dests))
  local sv = redis.call("HMGET", K_LOAD, unpack(dests))
  local pos, before = candidates(v, sv, n, numbers(ARGV[o + 1]), numbers(ARGV[o + 2]),
    numbers(ARGV[o + 3]), nil)
  local idx = {}
  for c = 1, #pos do idx[c] = c end
  table.sort(idx, before)
  for c = 1, #idx do idx[c] = pos[idx[c]] end
  return idx
end

-- op_load returns the calls holding each destination in the deployment.
-- Arguments: the destinations.
local function op_load(o, count)
  local dests = {}
  for i = 1, count do
    dests[i] = ARGV[o + i]
  end
  local v = redis.call("HMGET", K_LOAD, unpack(dests))
  local out = {}
  for i = 1, count do
    out[i] = sdecode(v[i]) -- the calls
  end
  return out
end

-- op_acquire holds one destination for a call.
-- Arguments: call, capacity (0 = none), dest, admission (lb.Admission's
-- name: checked for a call ringlb places, which drain and capacity may
-- refuse; counted for a call that exists already; reasserted when a node
-- takes back the hold of a call still up that Redis lost), the state the
-- hold starts in (RINGING_NAME or TALKING_NAME), max_age_ms.
-- Reply: {1, load, 1} acquired (load after it); {0, load, mine} already
-- held (mine = 1 if this node owns the hold); {-1, load, 0} drained;
-- {-2, load, 0} full. The load is the deployment's: a call another
-- balancer holds on dest is in it already, so capacity never refuses it.
local function op_acquire(o)
  local call, cap, dest, admission, name, age =
    ARGV[o + 1], tonumber(ARGV[o + 2]), ARGV[o + 3], ARGV[o + 4], ARGV[o + 5], tonumber(ARGV[o + 6])
  local checked = admission == "checked"
  if not checked and admission ~= "counted" and admission ~= "reasserted" then
    error("ringlb: acquire: unknown admission " .. admission)
  end
  local state = RINGING
  if name == TALKING_NAME then
    state = TALKING
  elseif name ~= RINGING_NAME then
    error("ringlb: acquire: unknown state " .. name)
  end
  local v = read({dest, call_field(call)}, 2, call)
  local r, list = rec_of(v[1]), holds_of(v[2])
  local sv = redis.call("HMGET", K_LOAD, dest, call_field(call))
  local load = sdecode(sv[1])
  local k = find(list, dest)
  if k then
    local mine = 0
    if list[k].node == node then mine = 1 end
    return {0, load, mine}
  end
  if checked and r.drained == 1 then
    return {-1, load, 0}
  end
  if checked and cap > 0 and load >= cap and not shares_held(sv[2], dest) then
    return {-2, load, 0}
  end
  hold(dest, call, r, list, lease, age, node, state, sv[1], sv[2])
  return {1, sdecode(redis.call("HGET", K_LOAD, dest)), 1}
end

-- op_release drops holds; many at once when queued releases are retried.
-- The call ends in this balancer: if no other holds it and it was
-- answered, its member's wrap-up starts (see unshare).
-- Arguments: per hold, member ("<dest>\n<call>").
-- Reply: per hold, 1 if it was held, else 0 (also when its lease had run
-- out: nothing was held to release).
local function op_release(o, count)
  local out = {}
  for i = o + 1, o + count do
    local m = ARGV[i]
    local dest, call = split_member(m)
    local v = read({dest, call_field(call)}, 2, call)
    local list = holds_of(v[2])
    local k = find(list, dest)
    if k then
      local h = drop_at(dest, call, rec_of(v[1]), list, k, true)
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
  if not k or list[k].state ~= RINGING then
    return 0
  end
  list[k].state = TALKING
  local r = rec_of(v[1])
  r.talking = r.talking + 1
  if r.talking > r.cnt then r.talking = r.cnt end
  r.answered = r.answered + 1
  r.score, r.score_at = fade(r.score, r.score_at, clock, half) + 1, clock
  save(dest, r, call, list)
  share_answered(dest, call)
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
    if k and list[k].node == node and list[k].state == RINGING then
      drop_at(dest, call, rec_of(v[1]), list, k, false)
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
  end
  return out
end

-- The operations by name, as batch.go's opKind names them: an if-chain,
-- not a table, as the script runs anew for every call and a table would
-- be built anew each time.
-- Lapsed holds of other balancers matter only to an operation that reads
-- loads: a batch of releases and answers leaves them to the next one.
local reads_load = false
local j = 7
while j <= #ARGV do
  local name = ARGV[j]
  if name == "next" or name == "order" or name == "load" or name == "acquire" then
    reads_load = true
    break
  end
  j = j + 2 + tonumber(ARGV[j + 1])
end
begin(not reads_load)
local out = {}
local i = 7
while i <= #ARGV do
  local name, count = ARGV[i], tonumber(ARGV[i + 1])
  local op
  if name == "next" then op = op_next
  elseif name == "release" then op = op_release
  elseif name == "acquire" then op = op_acquire
  elseif name == "answered" then op = op_answered
  elseif name == "order" then op = op_order
  elseif name == "load" then op = op_load
  elseif name == "drop" then op = op_drop
  else error("ringlb: unknown operation " .. name)
  end
  out[#out + 1] = op(i + 1, count)
  i = i + 2 + count
end
return out
