-- acquire.lua holds one destination for a call.
-- ARGV: reap_limit, node, lease_ms, max_age_ms, call, capacity (0 = none),
--       dest, and "reassert" when a node takes back the hold of a call
--       still up whose lease lapsed during an outage (a drain, which never
--       ends calls, does not stop that; capacity does).
-- Reply: {1, load, 1} acquired; {0, load, mine} already held (mine = 1
-- if this node owns the hold); {-1, load, 0} drained; {-2, load, 0} full.
local node, lease, maxage, call, cap, dest =
  ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local now = begin()
redis.call("SADD", K_KNOWN, dest)
local m = member(dest, call)
local rec = redis.call("HGET", K_HOLDS, m)
if rec and lapsed(m, now) then
  drop(m) -- lapsed but not reaped yet: it is gone
  rec = false
end
local l = load(dest)
if rec then
  local mine = 0
  if owner(rec) == node then mine = 1 end
  return {0, l, mine}
end
if ARGV[8] ~= "reassert" and redis.call("SISMEMBER", K_DRAINED, dest) == 1 then
  return {-1, l, 0}
end
if cap > 0 and l >= cap then
  return {-2, l, 0}
end
hold(dest, call, m, now, lease, maxage, node)
return {1, l + 1, 1}
