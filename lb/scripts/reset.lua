-- reset.lua drops every hold on one destination and returns how many.
-- ARGV: reap_limit, dest.
begin()
local dest = ARGV[2]
local ms = redis.call("ZRANGEBYLEX", K_IDX, "[" .. dest .. "\n", "(" .. dest .. "\11")
for i = 1, #ms do
  drop(ms[i])
end
-- Every hold of dest is gone, so its count is 0: a repair also mends a
-- count that drifted from the holds.
redis.call("HDEL", K_CNT, dest)
mark_idle(dest)
return #ms
