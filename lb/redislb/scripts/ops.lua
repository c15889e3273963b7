-- ops.lua runs operations in order, one or many per script call: the call's
-- path (next, acquire, release, answered, and drops of doubtful holds),
-- which simultaneous callers of one process share (see batch.go), so
-- Redis's cost per request, the clock read and the reaping are paid once
-- per batch while each operation stays atomic and sees the ones before it;
-- and order and load, each alone.
-- ARGV: reap_limit, node, lease_ms, max_age_ms, tie (fewest|lru|list|
--       random|talk), half_life_ms, start_window_ms (0 = none),
--       no_answer_backoff_ms (0 = none), max_no_answer (0 = never),
--       then per operation: its name (see
--       the end), how many arguments follow, the arguments (see each op_
--       function).
-- Reply: one reply per operation, in order.
local node, lease, maxage, tie, half, window, backoff, maxmiss =
  ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]),
  tonumber(ARGV[8]), tonumber(ARGV[9])

-- left_out reports whether a member that left missed offers in a row
-- unanswered is left out of rankings, backing telling whether its no-answer
-- back-off still runs (max_no_answer; Options.LeftOut in Go).
local function left_out(missed, backing)
  return backing and maxmiss > 0 and missed >= maxmiss
end

local function numbers(list)
  if list == "" then return nil end
  local out = {}
  for x in string.gmatch(list, "[^,]+") do out[#out + 1] = tonumber(x) end
  return out
end

-- The ranking rule, written once in Lua (lb/order.go is Go's, for the
-- memory backend; the conformance suite holds both to it): members that
-- are drained, in wrap-up, full or out for missed offers (left_out)
-- are left out (load and the end of the
-- last answered call are the deployment's, see share_hold; the tie score
-- and the no-answer back-off are this balancer's); the others go by load,
-- then those in their no-answer back-off last, then by tie (fewest, talk:
-- the tie score faded to now, then lru; lru: the order of the last hold
-- start; random: the caller's random key; list: none), then by list
-- position.
--
-- Where a score starts, and the lift on return (order.go's rule): a
-- member is scored the first time it is ranked, at zero within the
-- balancer's start window (which runs from its first ranking, F_START)
-- and after it at the lowest score of the members it is ranked with; a
-- member back from an absence (LIFT_PENDING) is lifted to the mean score
-- of those members if below it. Those members are the ones scored before
-- and not themselves returning.
local fewest, lru, random, talk = tie == "fewest", tie == "lru", tie == "random", tie == "talk"
local scored = fewest or talk
local F_START = "\rstart"

-- windowed says whether rankings read F_START: the start window is on
-- and the tie scored.
local windowed = scored and window > 0

-- start_window starts the balancer's start window at its first ranking,
-- whether or not that ranking scores a member (as the memory backend
-- does), and returns when it started; started is F_START as the ranking
-- read it with the records (nil when not yet written).
local function start_window(started)
  if not windowed then return nil end
  if not started then
    redis.call("HSET", K_MEM, F_START, clock)
    return clock
  end
  return tonumber(started) or clock
end

-- in_window reports whether the balancer, whose start window began at
-- started (start_window's), is within it.
local function in_window(started)
  return windowed and clock - started < window
end

-- start_scores scores the members never scored among candidates c (their
-- positions pos, scores scores, false for those to start or lift) and
-- lifts the returning ones, writing their records (v, by position; names,
-- the destinations) back, and v with them. low, sum and n are of the
-- others: their lowest score, the sum of their scores, how many.
local function start_scores(v, names, pos, scores, nc, low, sum, n, started)
  local start = 0
  if not in_window(started) and n > 0 then start = low end
  local mean = n > 0 and sum / n or nil
  local writes, idle = {}, {}
  for c = 1, nc do
    if not scores[c] then
      local i = pos[c]
      local r = rec_of(v[i])
      local new = r.score_at == 0
      if new then
        r.score = start
      else
        r.score = fade(r.score, r.score_at, clock, half)
        if mean and mean > r.score then r.score = mean end
      end
      -- a member marked away before its first ranking stays away
      r.score_at = clock
      if r.lift == LIFT_PENDING then r.lift = LIFT_NONE end
      scores[c] = r.score
      v[i] = rec_bytes(r)
      writes[#writes + 1] = names[i]
      writes[#writes + 1] = v[i]
      if new and r.cnt == 0 then idle[#idle + 1] = names[i] end
    end
  end
  redis.call("HSET", K_MEM, unpack(writes))
  -- After the writes, so that a record the idle bound forgets stays
  -- forgotten.
  for _, d in ipairs(idle) do mark_idle(d) end
end

-- candidates reads the records v[1..n] of the destinations names[1..n]
-- and their shared records sv[1..n], and returns, for the members that
-- may be offered, in list order: their positions, and a function that
-- reports whether the one at index a of those ranks before the one at
-- index b. caps are the capacities, wraps the wrap-ups and keys the
-- random keys, each one per member or nil (see op_next); held[i] is true
-- when the call asking holds member i in any balancer already, which
-- gives it room; started is F_START as read with the records. A member scored here has its record written, and v
-- updated. Next and order run once per call and over every member, so
-- this reads each record into locals (decode's order, see the prelude)
-- rather than a table.
local function candidates(v, sv, names, n, caps, wraps, keys, held, started)
  local pos, tiers, scores, ties = {}, {}, {}, {}
  local nc, low, sum, np, fresh = 0, 0, 0, 0, false
  for i = 1, n do
    local _, drained, _, seq, score_at, score, _, _, _, _, back, missed, lift = decode(v[i])
    local cnt, _, ended = sdecode(sv[i])
    local cap = caps and caps[i] or 0
    local wrap = wraps and ended > 0 and wraps[i] or 0
    local mine = held and held[i]
    if drained == 0 and (wrap == 0 or clock >= ended + wrap) and
        (cap == 0 or cnt < cap or mine) and
        (mine or not left_out(missed, clock < back)) then
      local s, t = 0, 0
      if scored then
        t = seq
        if score_at == 0 or lift == LIFT_PENDING then
          s, fresh = false, true
        else
          s = fade(score, score_at, clock, half)
          if np == 0 or s < low then low = s end
          sum, np = sum + s, np + 1
        end
      elseif lru then
        t = seq
      elseif random then
        t = keys[i]
      end
      -- The tier: twice the load, one more in the no-answer back-off.
      local tier = 2 * cnt
      if clock < back then tier = tier + 1 end
      nc = nc + 1
      pos[nc], tiers[nc], scores[nc], ties[nc] = i, tier, s, t
    end
  end
  started = start_window(started)
  if fresh then
    start_scores(v, names, pos, scores, nc, low, sum, np, started)
  end
  local function before(a, b)
    if tiers[a] ~= tiers[b] then return tiers[a] < tiers[b] end
    if scores[a] ~= scores[b] then return scores[a] < scores[b] end
    if ties[a] ~= ties[b] then return ties[a] < ties[b] end
    return a < b -- candidates are in list order
  end
  return pos, before
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
-- every destination is drained, in wrap-up, full or out for no answer.
local function op_next(o, count)
  local call = ARGV[o + 1]
  local n = count - 4
  local fields = {}
  for i = 1, n do
    fields[i] = ARGV[o + 4 + i]
  end
  fields[n + 1] = call_field(call)
  if windowed then fields[n + 2] = F_START end
  -- Two reads: every destination's record and the call's holds (and when
  -- the start window began), here and in the deployment's load.
  local v = read(fields, n + 1, call)
  local started = v[n + 2]
  fields[n + 2] = nil
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
  local pos, before = candidates(v, sv, fields, n, numbers(ARGV[o + 2]), numbers(ARGV[o + 3]),
    numbers(ARGV[o + 4]), held, started)
  if #pos == 0 then
    return {0, 0, 0}
  end
  local best = 1
  for c = 2, #pos do
    if before(c, best) then best = c end
  end
  best = pos[best]
  local r = rec_of(v[best])
  -- The call may hold destinations outside this list: they stay.
  hold(fields[best], call, r, list, lease, maxage, node, RINGING, sv[best], sv[n + 1])
  return {1, best, 1}
end

-- op_order ranks destinations, leaving out those drained, in wrap-up,
-- full or out for no answer.
-- Arguments: capacities, wrap-ups, random keys (as op_next's), then the
-- destinations.
-- Reply: the positions of the destinations offered, best first.
local function op_order(o, count)
  local n = count - 3
  local dests = {}
  for i = 1, n do
    dests[i] = ARGV[o + 3 + i]
  end
  if windowed then dests[n + 1] = F_START end
  local v = redis.call("HMGET", K_MEM, unpack(dests))
  local started = v[n + 1]
  dests[n + 1] = nil
  local sv = redis.call("HMGET", K_LOAD, unpack(dests))
  local pos, before = candidates(v, sv, dests, n, numbers(ARGV[o + 1]), numbers(ARGV[o + 2]),
    numbers(ARGV[o + 3]), nil, started)
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

-- release_one drops hold m and returns 1, or 0 when it was not held (also
-- when its lease had run out: nothing was held to release). The call ends
-- in this balancer: if no other holds it and it was answered, its
-- member's wrap-up starts (see unshare). An answered hold adds its time to
-- a talk score; one still ringing that rang out (unanswered) starts or
-- doubles its member's no-answer back-off, up to MAX_DOUBLINGS times.
local function release_one(m, unanswered)
  local dest, call = split_member(m)
  local v = read({dest, call_field(call)}, 2, call)
  local list = holds_of(v[2])
  local k = find(list, dest)
  if not k then
    redis.call("ZREM", K_EXP, m)
    return 0
  end
  local r, h = rec_of(v[1]), list[k]
  if h.state == TALKING and talk then
    r.score = fade(r.score, r.score_at, clock, half) + math.max(clock - tonumber(h.start), 0) / 1000
    r.score_at = clock
  elseif h.state == RINGING and unanswered then
    r.missed = r.missed + 1
    if backoff > 0 then
      r.back = clock + backoff * 2 ^ math.min(r.missed - 1, MAX_DOUBLINGS)
    end
  end
  drop_at(dest, call, r, list, k, true)
  if h.node ~= node then
    note_gone(m) -- another node's hold: it must not take it back
  end
  return 1
end

-- op_release drops holds; many at once when queued releases are retried.
-- Arguments: per hold, member ("<dest>\n<call>").
-- Reply: per hold, 1 if it was held, else 0.
local function op_release(o, count)
  local out = {}
  for i = o + 1, o + count do
    out[#out + 1] = release_one(ARGV[i], false)
  end
  return out
end

-- op_unanswered drops a hold whose offer rang out unanswered (see
-- release_one).
-- Arguments: member ("<dest>\n<call>").
-- Reply: as op_release's, for its one hold.
local function op_unanswered(o)
  return {release_one(ARGV[o + 1], true)}
end

-- op_answered marks a hold answered: ringing turns to talking, the
-- destination's answered count grows by one call, and so does its fewest
-- score; its no-answer back-off ends, and an absence marked away with it.
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
  r.missed, r.back = 0, 0
  if r.lift == LIFT_AWAY then r.lift = LIFT_PENDING end
  if not talk then -- talk ties score at release
    r.score, r.score_at = fade(r.score, r.score_at, clock, half) + 1, clock
  end
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
-- The operations start after the balancer's fixed arguments.
local FIRST_OP = 10
local reads_load = false
local j = FIRST_OP
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
local i = FIRST_OP
while i <= #ARGV do
  local name, count = ARGV[i], tonumber(ARGV[i + 1])
  local op
  if name == "next" then op = op_next
  elseif name == "release" then op = op_release
  elseif name == "unanswered" then op = op_unanswered
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
