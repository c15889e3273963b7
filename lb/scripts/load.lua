-- load.lua returns the live holds of each destination.
-- ARGV: reap_limit, dests...
begin()
if #ARGV < 2 then return {} end
local dests = {}
for i = 2, #ARGV do
  dests[i - 1] = ARGV[i]
end
return loads(dests)
