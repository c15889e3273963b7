-- drain.lua drains ("1") or undrains ("0") a destination.
-- ARGV: reap_limit, flag, dest.
begin()
redis.call("SADD", K_KNOWN, ARGV[3])
if ARGV[2] == "1" then
  redis.call("SADD", K_DRAINED, ARGV[3])
else
  redis.call("SREM", K_DRAINED, ARGV[3])
  if load(ARGV[3]) == 0 then
    mark_idle(ARGV[3])
  end
end
return 1
