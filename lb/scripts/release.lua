-- release.lua drops holds; many at once when queued releases are retried.
-- ARGV: reap_limit, node, then per hold: member ("<dest>\n<call>"), wrap-up
--       of its destination (ms).
-- Reply: per hold, 1 if it was held, else 0.
local node = ARGV[2]
local now = begin()
local out = {}
for i = 3, #ARGV, 2 do
  local m = ARGV[i]
  if lapsed(m, now) then
    expire(m) -- it had already lapsed: nothing was held to release
    out[#out + 1] = 0
  else
    local h = drop(m, tonumber(ARGV[i + 1]))
    if h and hold_field(h, 4) ~= node then
      note_gone(m) -- another node's hold: it must not take it back
    end
    out[#out + 1] = h and 1 or 0
  end
end
return out
