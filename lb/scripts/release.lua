-- release.lua drops holds; many at once when queued releases are retried.
-- ARGV: reap_limit, members ("<dest>\n<call>")...
-- Reply: per member, 1 if it was held, else 0.
local now = now_ms()
reap(now, tonumber(ARGV[1]))
local out = {}
for i = 2, #ARGV do
  out[i - 1] = drop(ARGV[i])
end
return out
