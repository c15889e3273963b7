-- snapshot.lua reads one page of one part of a balancer's state, for
-- operators. A snapshot is many calls, each reading at most about count
-- entries, so a large balancer never holds Redis (and every switch on it)
-- up for long; SCAN's rules apply: an entry present throughout is seen at
-- least once, maybe twice.
-- ARGV: reap_limit, part (mem|holds), cursor, count, half_life_ms.
-- Reply: {next cursor ("0" at the end), entries, now_ms, offset_ms}: the
-- times are the balancer's clock, offset_ms ahead of the server's (see
-- begin); entries are records (rec_wire) for mem, and holds whose lease
-- has not run out (hold_wire) for holds.
local now = begin()
local part, cursor, count, half = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local page = redis.call("HSCAN", K_MEM, cursor, "COUNT", count)
local kv, out = page[2], {}
for i = 1, #kv, 2 do
  local f = kv[i]
  local kind = string.byte(f, 1)
  if part == "mem" and kind > 31 then
    out[#out + 1] = rec_wire(f, rec_of(kv[i + 1]), now, half)
  elseif part == "holds" and kind == 10 then -- "\n<call>"; the counter is "\r"
    local call = string.sub(f, 2)
    for _, h in ipairs(holds_of(kv[i + 1])) do
      local e = redis.call("ZSCORE", K_EXP, member(h.dest, call))
      if not (e and tonumber(e) <= now) then
        out[#out + 1] = hold_wire(h, call, e or "0")
      end
    end
  end
end
return {page[1], out, now, offset}
