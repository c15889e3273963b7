-- snapshot.lua reads one page of one part of a balancer's state, for
-- operators. A snapshot is many calls, each reading at most about count
-- entries, so a large balancer never holds Redis (and every switch on it)
-- up for long; SCAN's rules apply: an entry present throughout is seen at
-- least once, maybe twice.
-- ARGV: reap_limit, part (known|drained|started|last|holds), cursor, count.
-- Reply: {next cursor ("0" at the end), entries}: members for known and
-- drained; field, value pairs for started and last; member, record, expiry
-- triples for holds, leaving out holds whose lease ran out.
local now = begin()
local part, cursor, count = ARGV[2], ARGV[3], ARGV[4]
if part == "known" or part == "drained" then
  local key = K_KNOWN
  if part == "drained" then key = K_DRAINED end
  return redis.call("SSCAN", key, cursor, "COUNT", count)
elseif part == "started" or part == "last" then
  local key = K_STARTED
  if part == "last" then key = K_LAST end
  return redis.call("HSCAN", key, cursor, "COUNT", count)
end
local page = redis.call("HSCAN", K_HOLDS, cursor, "COUNT", count)
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
return {page[1], flat}
