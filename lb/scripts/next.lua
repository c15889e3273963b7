-- next.lua chooses the least-loaded destination with room and holds it for
-- a call, in one step.
-- ARGV: reap_limit, node, lease_ms, max_age_ms, tie (fewest|lru|list|random),
--       half_life_ms, call, then per destination: dest, capacity (0 =
--       none), random key (used when tie is random).
-- Reply: {2, i, mine} when the call already holds destination i (mine = 1
-- if this node owns that hold), {1, i, 1} for a new hold, {0, 0, 0} when
-- every destination is drained, in wrap-up or full.
local node, lease, maxage, tie, half, call =
  ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local now = begin()
local n = (#ARGV - 7) / 3
local dests, members = {}, {}
for i = 1, n do
  dests[i] = ARGV[3 * i + 5]
  members[i] = member(dests[i], call)
end

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
local raw = redis.call("HMGET", K_MEM, unpack(dests))
local recs, ok = {}, {}
local low, any = 0, false
for i = 1, n do
  local r = rec_of(raw[i])
  recs[i] = r
  local cap = tonumber(ARGV[3 * i + 6])
  ok[i] = r.drained == 0 and now >= r.wrap and (cap == 0 or r.cnt < cap)
  if ok[i] and tie == "fewest" and r.score_at > 0 then
    r.now_score = faded(r, now, half)
    if not any or r.now_score < low then low, any = r.now_score, true end
  end
end
local best, bl, bs, bt = nil, 0, 0, 0
for i = 1, n do
  if ok[i] then
    local r = recs[i]
    local l, s, t = r.cnt, 0, 0
    if tie == "fewest" then
      s = r.now_score or low
      t = r.seq
    elseif tie == "lru" then
      t = r.seq
    elseif tie == "random" then
      t = tonumber(ARGV[3 * i + 7])
    end
    if best == nil or l < bl or (l == bl and (s < bs or (s == bs and t < bt))) then
      best, bl, bs, bt = i, l, s, t
    end
  end
end
if best == nil then
  return {0, 0, 0}
end
local r = recs[best]
if tie == "fewest" and r.score_at == 0 then
  -- First seen mid-shift: it starts level with the least busy.
  r.score, r.score_at = low, now
end
hold(dests[best], r, members[best], now, lease, maxage, node, "r")
return {1, best, 1}
