-- snapshot.lua returns the whole state of a balancer, for operators.
-- ARGV: reap_limit.
-- Reply: {now_ms, known, drained, started (flat field/value),
--         last (flat field/value), holds (flat member/record/expiry)}.
local now = begin()
local holds = redis.call("HGETALL", K_HOLDS)
local flat = {}
for i = 1, #holds, 2 do
  local m = holds[i]
  flat[#flat + 1] = m
  flat[#flat + 1] = holds[i + 1]
  flat[#flat + 1] = redis.call("ZSCORE", K_EXP, m) or "0"
end
return {now, redis.call("SMEMBERS", K_KNOWN), redis.call("SMEMBERS", K_DRAINED),
  redis.call("HGETALL", K_STARTED), redis.call("HGETALL", K_LAST), flat}
