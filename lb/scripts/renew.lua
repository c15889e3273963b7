-- renew.lua extends the leases of one node's holds, in one batch.
-- ARGV: reap_limit, node, lease_ms, members...
-- Reply: the members that are no longer this node's holds (released,
-- reset, lapsed or past their maximum age); the node stops renewing them.
local node, lease = ARGV[2], tonumber(ARGV[3])
local now = begin()
local lost = {}
for i = 4, #ARGV do
  local m = ARGV[i]
  local h = redis.call("HGET", K_HOLD, m)
  if h and hold_field(h, 4) == node then
    local exp = now + lease
    local hard = tonumber(hold_field(h, 2)) or 0
    if hard > 0 and hard < exp then exp = hard end
    if exp <= now then
      drop(m, 0)
      lost[#lost + 1] = m
    else
      redis.call("ZADD", K_EXP, exp, m)
    end
  else
    lost[#lost + 1] = m
  end
end
return lost
