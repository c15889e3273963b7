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
      if drop(m, false) then
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
-- The deployment's load of dest is what other balancers still hold: it is
-- counted again from the calls, which mends a drifted shared count too.
local calls, talking = 0, 0
cursor = "0"
repeat
  local page = redis.call("HSCAN", K_LOAD, cursor, "COUNT", 1000)
  cursor = page[1]
  local kv = page[2]
  for i = 1, #kv, 2 do
    if string.byte(kv[i], 1) == 10 then
      local list = shares_of(kv[i + 1])
      local k = find(list, dest)
      if k then
        calls = calls + 1
        if list[k].state == TALKING then talking = talking + 1 end
      end
    end
  end
until cursor == "0"
local sr = srec_of(redis.call("HGET", K_LOAD, dest))
if sr.calls ~= calls or sr.talking ~= talking then
  sr.calls, sr.talking = calls, talking
  if calls > 0 or sr.ended > 0 then
    redis.call("HSET", K_LOAD, dest, srec_bytes(sr))
  else
    redis.call("HDEL", K_LOAD, dest)
  end
end
return gone
