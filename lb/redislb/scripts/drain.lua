-- drain.lua drains ("1") or undrains ("0") a destination, or marks it
-- away ("away") or back ("rejoin") for the lift on return (see ops.lua);
-- back also ends its no-answer back-off. Undrain marks a drained
-- destination back, as rejoin does.
-- ARGV: reap_limit, flag, dest.
begin()
local dest, flag = ARGV[3], ARGV[2]
local r = rec_of(redis.call("HGET", K_MEM, dest))
-- rejoin: back, lifted at its next ranking, its no-answer back-off over.
local function rejoin()
  r.lift = LIFT_PENDING
  r.missed, r.back = 0, 0
end
if flag == "away" then
  r.lift = LIFT_AWAY
elseif flag == "rejoin" then
  rejoin()
else
  local drained = tonumber(flag)
  if drained == 0 and r.drained == 1 then rejoin() end
  r.drained = drained
end
redis.call("HSET", K_MEM, dest, rec_bytes(r))
if r.drained == 1 then
  redis.call("ZREM", K_IDLE, dest)
elseif r.cnt == 0 then
  mark_idle(dest)
end
return 1
