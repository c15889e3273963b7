-- drain.lua drains ("1") or undrains ("0") a destination.
-- ARGV: flag, reap_limit, dest.
local now = now_ms()
reap(now, tonumber(ARGV[2]))
redis.call("SADD", K_KNOWN, ARGV[3])
if ARGV[1] == "1" then
  redis.call("SADD", K_DRAINED, ARGV[3])
else
  redis.call("SREM", K_DRAINED, ARGV[3])
end
return 1
