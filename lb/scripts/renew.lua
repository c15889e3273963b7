-- renew.lua extends the leases of one node's holds, in one batch.
-- ARGV: reap_limit, node, lease_ms, members...
-- Reply: {gone, missing}. gone: members that are no longer this node's
-- holds for good (reset, another node's, past their maximum age); the node
-- stops renewing them. missing: members with no hold at all and no note of
-- a reset: released meanwhile by this node, or lost (a failover to a
-- replica that had not received them, a lapse during an outage); the node
-- takes back those it still holds (see redis_lease.go).
local node, lease = ARGV[2], tonumber(ARGV[3])
local now = begin()
redis.call("ZREMRANGEBYSCORE", K_GONE, "-inf", now)
local gone, missing = {}, {}
for i = 4, #ARGV do
  local m = ARGV[i]
  local h = redis.call("HGET", K_HOLD, m)
  if h and hold_field(h, 4) == node then
    local exp = now + lease
    local hard = tonumber(hold_field(h, 2)) or 0
    if hard > 0 and hard < exp then exp = hard end
    if exp <= now then
      drop(m, 0)
      note_gone(m)
      gone[#gone + 1] = m
    else
      redis.call("ZADD", K_EXP, exp, m)
    end
  elseif h or redis.call("ZSCORE", K_GONE, m) then
    gone[#gone + 1] = m
  else
    missing[#missing + 1] = m
  end
end
return {gone, missing}
