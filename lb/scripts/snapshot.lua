-- snapshot.lua reads one page of one part of a balancer's state, for
-- operators. A snapshot is many calls, each reading at most about count
-- entries, so a large balancer never holds Redis (and every switch on it)
-- up for long; SCAN's rules apply: an entry present throughout is seen at
-- least once, maybe twice.
-- ARGV: reap_limit, part (mem|holds), cursor, count.
-- Reply: {next cursor ("0" at the end), entries, now_ms}: dest, record
-- pairs for mem; member, record, expiry triples for holds, leaving out
-- holds whose lease ran out.
local now = begin()
local part, cursor, count = ARGV[2], ARGV[3], ARGV[4]
if part == "mem" then
  local page = redis.call("HSCAN", K_MEM, cursor, "COUNT", count)
  return {page[1], page[2], now}
end
local page = redis.call("HSCAN", K_HOLD, cursor, "COUNT", count)
local kv, flat = page[2], {}
for i = 1, #kv, 2 do
  local m = kv[i]
  local e = redis.call("ZSCORE", K_EXP, m)
  if not (e and tonumber(e) <= now) then
    flat[#flat + 1] = m
    flat[#flat + 1] = kv[i + 1]
    flat[#flat + 1] = e or "0"
  end
end
return {page[1], flat, now}
