-- release.lua drops holds; many at once when queued releases are retried.
-- ARGV: reap_limit, members ("<dest>\n<call>")...
-- Reply: per member, 1 if it was held, else 0.
local now = begin()
local out = {}
for i = 2, #ARGV do
  local m = ARGV[i]
  if lapsed(m, now) then
    drop(m) -- it had already lapsed: nothing was held to release
    out[i - 1] = 0
  else
    out[i - 1] = drop(m)
  end
end
return out
