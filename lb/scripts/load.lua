-- load.lua returns the live holds of each destination.
-- ARGV: reap_limit, dests...
local now = now_ms()
reap(now, tonumber(ARGV[1]))
local out = {}
for i = 2, #ARGV do
  out[i - 1] = load(ARGV[i])
end
return out
