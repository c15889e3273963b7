-- reset.lua drops every hold on one destination and returns how many. It
-- scans every call's holds: a repair, not a call path.
-- ARGV: reap_limit, dest.
local now = begin()
local dest = ARGV[2]
redis.call("ZREMRANGEBYSCORE", K_GONE, "-inf", now)
local gone, cursor = 0, "0"
repeat
  local page = redis.call("HSCAN", K_MEM, cursor, "COUNT", 1000)
  cursor = page[1]
  local kv = page[2]
  for i = 1, #kv, 2 do
    local f = kv[i]
    if string.byte(f, 1) == 10 and find(holds_of(kv[i + 1]), dest) then
      local m = member(dest, string.sub(f, 2))
      if drop(m, 0) then
        gone = gone + 1
        note_gone(m) -- its node's renewal stops instead of taking it back
      end
    end
  end
until cursor == "0"
-- Every hold of dest is gone, so its count is 0: a repair also mends a
-- count that drifted from the holds.
local r = rec_of(redis.call("HGET", K_MEM, dest))
if r.cnt ~= 0 or r.talking ~= 0 then
  r.cnt, r.talking = 0, 0
  redis.call("HSET", K_MEM, dest, rec_bytes(r))
  if r.drained == 0 then mark_idle(dest) end
end
return gone
