-- next.lua chooses the least-loaded destination with room and holds it for
-- a call, in one step.
-- ARGV: reap_limit, node, lease_ms, max_age_ms, tie (lru|list|random),
--       call, then per destination: dest, capacity (0 = none), random key
--       (used when tie is random).
-- Reply: {2, dest, mine} when the call already holds dest (mine = 1 if
-- this node owns that hold), {1, dest, 1} for a new hold, {0, "", 0} when
-- every destination is drained or full.
local node, lease, maxage, tie, call =
  ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local now = begin()
local n = (#ARGV - 6) / 3
local dests, members = {}, {}
for i = 1, n do
  dests[i] = ARGV[3 * i + 4]
  members[i] = member(dests[i], call)
end

local recs = redis.call("HMGET", K_HOLDS, unpack(members))
for i = 1, n do
  if recs[i] and lapsed(members[i], now) then
    drop(members[i]) -- lapsed but not reaped yet: it is gone
    recs[i] = false
  end
  if recs[i] then
    local mine = 0
    if owner(recs[i]) == node then mine = 1 end
    return {2, dests[i], mine}
  end
end

local drained = redis.call("SMISMEMBER", K_DRAINED, unpack(dests))
local counts = loads(dests)
local seqs = {}
if tie == "lru" then
  seqs = redis.call("HMGET", K_SEQ, unpack(dests))
end
-- Ranking rule of order.go: load, then the tie key, then list position.
local best, bl, bt = nil, 0, 0
for i = 1, n do
  if drained[i] == 0 then
    local l = counts[i]
    local cap = tonumber(ARGV[3 * i + 5])
    if cap == 0 or l < cap then
      local t = 0
      if tie == "lru" then
        t = tonumber(seqs[i]) or 0
      elseif tie == "random" then
        t = tonumber(ARGV[3 * i + 6])
      end
      if best == nil or l < bl or (l == bl and t < bt) then
        best, bl, bt = i, l, t
      end
    end
  end
end
if best == nil then
  return {0, "", 0}
end
hold(dests[best], call, members[best], now, lease, maxage, node)
return {1, dests[best], 1}
