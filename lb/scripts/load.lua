-- load.lua returns the live holds of each destination.
-- ARGV: reap_limit, dests...
local now = now_ms()
reap(now, tonumber(ARGV[1]))
if #ARGV < 2 then return {} end
local dests = {}
for i = 2, #ARGV do
  dests[i - 1] = ARGV[i]
end
return loads(dests)
