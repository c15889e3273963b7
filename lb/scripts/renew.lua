-- renew.lua extends the leases of one node's holds, in one batch: one HMGET
-- reads them all and one ZADD extends them all.
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
local ms = {}
for i = 4, #ARGV do
  ms[#ms + 1] = ARGV[i]
end
local gone, missing = {}, {}
if #ms == 0 then
  return {gone, missing}
end
local hs = redis.call("HMGET", K_HOLD, unpack(ms))
local exps = {}
for i = 1, #ms do
  local m, h = ms[i], hs[i]
  if h then
    -- "<start>\n<hard>\n<state>\n<node>", state one character
    local a = string.find(h, "\n", 1, true)
    local b = string.find(h, "\n", a + 1, true)
    if string.sub(h, b + 3) == node then
      local exp = now + lease
      local hard = tonumber(string.sub(h, a + 1, b - 1)) or 0
      if hard > 0 and hard < exp then exp = hard end
      if exp <= now then
        drop(m, 0)
        note_gone(m)
        gone[#gone + 1] = m
      else
        exps[#exps + 1] = exp
        exps[#exps + 1] = m
      end
    else
      gone[#gone + 1] = m
    end
  elseif redis.call("ZSCORE", K_GONE, m) then
    gone[#gone + 1] = m
  else
    missing[#missing + 1] = m
  end
end
if #exps > 0 then
  redis.call("ZADD", K_EXP, unpack(exps))
end
return {gone, missing}
