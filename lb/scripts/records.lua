-- records.lua returns the member records of destinations, with the
-- server's time, for order and load; Go reads them (redis_records.go).
-- ARGV: reap_limit, dests...
-- Reply: {now_ms, record text or false per destination}.
local now = begin()
if #ARGV < 2 then return {now, {}} end
local dests = {}
for i = 2, #ARGV do
  dests[i - 1] = ARGV[i]
end
local v = redis.call("HMGET", K_MEM, unpack(dests))
local out = {}
for i = 1, #dests do
  out[i] = rec_text(v[i])
end
return {now, out}
