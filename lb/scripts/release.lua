-- release.lua drops holds; many at once when queued releases are retried.
-- ARGV: reap_limit, members ("<dest>\n<call>")...
-- Reply: per member, 1 if it was held, else 0.
local now = now_ms()
reap(now, tonumber(ARGV[1]))
local out = {}
for i = 2, #ARGV do
  if redis.call("HDEL", K_HOLDS, ARGV[i]) == 1 then
    redis.call("ZREM", K_EXP, ARGV[i])
    redis.call("ZREM", K_IDX, ARGV[i])
    out[i - 1] = 1
  else
    out[i - 1] = 0
  end
end
return out
