-- reset.lua drops every hold on one destination and returns how many. It
-- scans every hold: a repair, not a call path.
-- ARGV: reap_limit, dest.
local now = begin()
local dest = ARGV[2]
redis.call("ZREMRANGEBYSCORE", K_GONE, "-inf", now)
local prefix = dest .. "\n"
local gone, cursor = 0, "0"
repeat
  local page = redis.call("HSCAN", K_HOLD, cursor, "COUNT", 1000)
  cursor = page[1]
  local kv = page[2]
  for i = 1, #kv, 2 do
    if string.sub(kv[i], 1, #prefix) == prefix then
      if drop(kv[i], 0) then
        gone = gone + 1
        note_gone(kv[i]) -- its node's renewal stops instead of taking it back
      end
    end
  end
until cursor == "0"
-- Every hold of dest is gone, so its count is 0: a repair also mends a
-- count that drifted from the holds.
local r = rec_of(redis.call("HGET", K_MEM, dest))
if r.cnt ~= 0 or r.talking ~= 0 then
  r.cnt, r.talking = 0, 0
  put(dest, r)
  if r.drained == 0 then mark_idle(dest) end
end
return gone
