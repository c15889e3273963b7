-- order.lua returns what ranking needs; Go filters and ranks with rank().
-- ARGV: reap_limit, dests...
-- Reply: per destination, load, last-hold sequence (0 = never), drained.
begin()
local n = #ARGV - 1
local out = {}
if n == 0 then return out end
local dests = {}
for i = 1, n do dests[i] = ARGV[i + 1] end
local drained = redis.call("SMISMEMBER", K_DRAINED, unpack(dests))
local seqs = redis.call("HMGET", K_SEQ, unpack(dests))
local counts = loads(dests)
for i = 1, n do
  out[3 * i - 2] = counts[i]
  out[3 * i - 1] = tonumber(seqs[i]) or 0
  out[3 * i] = drained[i]
end
return out
