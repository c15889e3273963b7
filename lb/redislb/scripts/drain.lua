-- drain.lua drains ("1") or undrains ("0") a destination.
-- ARGV: reap_limit, flag, dest.
begin()
local dest = ARGV[3]
local r = rec_of(redis.call("HGET", K_MEM, dest))
r.drained = tonumber(ARGV[2])
redis.call("HSET", K_MEM, dest, rec_bytes(r))
if r.drained == 1 then
  redis.call("ZREM", K_IDLE, dest)
elseif r.cnt == 0 then
  mark_idle(dest)
end
return 1
