-- release.lua drops holds; many at once when queued releases are retried.
-- ARGV: reap_limit, then per hold: member ("<dest>\n<call>"), wrap-up of
--       its destination (ms).
-- Reply: per hold, 1 if it was held, else 0.
local now = begin()
local out = {}
for i = 2, #ARGV, 2 do
  local m = ARGV[i]
  if lapsed(m, now) then
    drop(m, 0) -- it had already lapsed: nothing was held to release
    out[#out + 1] = 0
  else
    out[#out + 1] = drop(m, tonumber(ARGV[i + 1]))
  end
end
return out
