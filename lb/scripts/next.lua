-- next.lua chooses the least-loaded destination with room and holds it for
-- a call, in one step.
-- ARGV: reap_limit, node, lease_ms, max_age_ms, tie (fewest|lru|list|random),
--       half_life_ms, call, capacities, random keys, then the destinations.
--       capacities: "" when no destination has one, else one number per
--       destination (0 = none) separated by commas; random keys: "" unless
--       tie is random, else one number per destination. Every argument
--       costs the server, so what is not needed is not sent.
-- Reply: {2, i, mine} when the call already holds destination i (mine = 1
-- if this node owns that hold), {1, i, 1} for a new hold, {0, 0, 0} when
-- every destination is drained, in wrap-up or full.
local node, lease, maxage, tie, half, call =
  ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local now = begin()
local n = #ARGV - 9
local dests, members = {}, {}
for i = 1, n do
  dests[i] = ARGV[i + 9]
  members[i] = member(dests[i], call)
end
local function numbers(list)
  if list == "" then return nil end
  local out = {}
  for x in string.gmatch(list, "[^,]+") do out[#out + 1] = tonumber(x) end
  return out
end
local caps, keys = numbers(ARGV[8]), numbers(ARGV[9])

local holds = redis.call("HMGET", K_HOLD, unpack(members))
for i = 1, n do
  if holds[i] and lapsed(members[i], now) then
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
-- Only what ranking reads is parsed (RANK); the chosen member's record is
-- read whole below.
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
    usable = d == "0" and now >= (tonumber(w) or 0)
    if fewest and usable and sa ~= "0" then
      s = fade(tonumber(sc) or 0, tonumber(sa), now, half)
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
  r.score, r.score_at = low, now
end
hold(dests[best], r, members[best], now, lease, maxage, node, "r")
return {1, best, 1}
