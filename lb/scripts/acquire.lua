-- acquire.lua holds one destination for a call.
-- ARGV: reap_limit, node, lease_ms, max_age_ms, call, capacity (0 = none),
--       dest, and how: "" for a new call; "count" for a call that exists
--       already; "reassert" or "reassert-talking" when a node takes back
--       the hold of a call still up that Redis lost (a lapse during an
--       outage, a failover). Drain and capacity stop neither: the call is
--       up.
-- Reply: {1, load, 1} acquired (load after it); {0, load, mine} already held (mine = 1
-- if this node owns the hold); {-1, load, 0} drained; {-2, load, 0} full.
local node, lease, maxage, call, cap, dest =
  ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local now = begin()
local m = member(dest, call)
local h = redis.call("HGET", K_HOLD, m)
if h and lapsed(m, now) then
  expire(m) -- lapsed but not reaped yet: it is gone
  h = false
end
local r = rec_of(redis.call("HGET", K_MEM, dest))
if h then
  local mine = 0
  if hold_field(h, 4) == node then mine = 1 end
  return {0, r.cnt, mine}
end
local how = ARGV[8] or ""
if how == "" and r.drained == 1 then
  return {-1, r.cnt, 0}
end
if how == "" and cap > 0 and r.cnt >= cap then
  return {-2, r.cnt, 0}
end
local state = "r"
if how == "reassert-talking" then state = "t" end
hold(dest, r, m, now, lease, maxage, node, state)
return {1, r.cnt, 1}
