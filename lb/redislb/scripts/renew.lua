-- renew.lua extends the leases of one node's holds, in one batch: one HMGET
-- reads the holds of all their calls and one ZADD extends them all.
-- ARGV: reap_limit, node, lease_ms, members ("<dest>\n<call>")...
-- Reply: {gone, missing}. gone: members that are no longer this node's
-- holds for good (reset, another node's, past their maximum age); the node
-- stops renewing them. missing: members with no hold at all and no note of
-- a reset: released meanwhile by this node, or lost (a failover to a
-- replica that had not received them, a lapse during an outage); the node
-- takes back those it still holds (see lease.go).
local node, lease = ARGV[2], tonumber(ARGV[3])
local now = begin()
redis.call("ZREMRANGEBYSCORE", K_GONE, "-inf", now)
local gone, missing = {}, {}
if #ARGV < 4 then
  return {gone, missing}
end
local ms, dests, fields, index, slot = {}, {}, {}, {}, {}
for i = 4, #ARGV do
  local m = ARGV[i]
  local j = string.find(m, "\n", 1, true)
  local f = string.sub(m, j)
  ms[#ms + 1], dests[#ms + 1] = m, string.sub(m, 1, j - 1)
  local k = index[f]
  if not k then
    fields[#fields + 1] = f
    k = #fields
    index[f] = k
  end
  slot[#ms] = k
end
local v = redis.call("HMGET", K_MEM, unpack(fields))
local exps, expired = {}, {}
for i = 1, #ms do
  local m = ms[i]
  local line = v[slot[i]] and line_of(v[slot[i]], dests[i])
  local hard, nd
  if line then hard, nd = string.match(line, HOLD_OWNER) end
  if hard then
    hard = tonumber(hard)
    if nd == node then
      local exp = now + lease
      if hard > 0 and hard < exp then exp = hard end
      if exp <= now then
        expired[#expired + 1] = m
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
for _, m in ipairs(expired) do
  drop(m, false)
  note_gone(m)
  gone[#gone + 1] = m
end
if #exps > 0 then
  redis.call("ZADD", K_EXP, unpack(exps))
  -- The same expiries in lease, where the deployment reaps them.
  for i = 2, #exps, 2 do
    exps[i] = exps[i] .. "\n" .. NAME
  end
  redis.call("ZADD", K_LEASE, unpack(exps))
end
return {gone, missing}
