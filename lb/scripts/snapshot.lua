-- snapshot.lua reads one page of one part of a balancer's state, for
-- operators. A snapshot is many calls, each reading at most about count
-- entries, so a large balancer never holds Redis (and every switch on it)
-- up for long; SCAN's rules apply: an entry present throughout is seen at
-- least once, maybe twice.
-- ARGV: reap_limit, part (mem|holds), cursor, count.
-- Reply: {next cursor ("0" at the end), entries, now_ms, offset_ms}: the
-- times are the balancer's clock, offset_ms ahead of the server's (see
-- begin); dest, record
-- text pairs for mem; member ("<dest>\n<call>"), hold
-- ("<start>\n<hard>\n<state>\n<node>"), expiry triples for holds, leaving
-- out holds whose lease ran out.
local now = begin()
local part, cursor, count = ARGV[2], ARGV[3], ARGV[4]
local page = redis.call("HSCAN", K_MEM, cursor, "COUNT", count)
local kv, flat = page[2], {}
for i = 1, #kv, 2 do
  local f = kv[i]
  local kind = string.byte(f, 1)
  if part == "mem" and kind > 31 then
    flat[#flat + 1] = f
    flat[#flat + 1] = rec_text(kv[i + 1])
  elseif part == "holds" and kind == 10 then -- "\n<call>"; the counter is "\r"
    local call = string.sub(f, 2)
    for _, h in ipairs(holds_of(kv[i + 1])) do
      local m = member(h.dest, call)
      local e = redis.call("ZSCORE", K_EXP, m)
      if not (e and tonumber(e) <= now) then
        flat[#flat + 1] = m
        flat[#flat + 1] = h.start .. "\n" .. h.hard .. "\n" .. h.state .. "\n" .. h.node
        flat[#flat + 1] = e or "0"
      end
    end
  end
end
return {page[1], flat, now, offset}
