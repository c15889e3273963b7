-- snapshot.lua reads one page of one part of a balancer's state, for
-- operators. A snapshot is many calls, each reading at most about count
-- entries, so a large balancer never holds Redis (and every switch on it)
-- up for long; SCAN's rules apply: an entry present throughout is seen at
-- least once, maybe twice.
-- ARGV: reap_limit, part (mem|holds), cursor, count, half_life_ms.
-- Reply: {next cursor ("0" at the end), entries, now_ms, offset_ms}: the
-- times are the balancer's clock, offset_ms ahead of the server's (see
-- begin); entries are records (REC_WIRE) for mem, and holds whose lease
-- has not run out (HOLD_WIRE) for holds.
local now = begin()
local part, cursor, count, half = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

-- What Go reads of a record and of a hold (codec.go): one "name=value"
-- line per field, read from the prelude's codecs. Destinations, call ids
-- and node names hold no control character (checked in Go), so no value
-- holds a newline. A record's score is as it weighs now; a hold's expires
-- is its lease expiry (a zset score), or "0". A record's cnt, talking and
-- ended are the deployment's (load): the calls holding it in any balancer,
-- of which talking, and when its last answered call ended.
local REC_WIRE = "dest=%s\ncnt=%d\ntalking=%d\ndrained=%d\nended=%d\nseq=%d\nlast=%d\nstarted=%d\nanswered=%d\nscore=%.17g\nmissed=%d\nback=%d"
local HOLD_WIRE = "dest=%s\ncall=%s\nstart=%d\nstate=%s\nnode=%s\nexpires=%s"

local page = redis.call("HSCAN", K_MEM, cursor, "COUNT", count)
local kv, out = page[2], {}
for i = 1, #kv, 2 do
  local f = kv[i]
  local kind = string.byte(f, 1)
  if part == "mem" and kind > 31 then
    local r = rec_of(kv[i + 1])
    local calls, talking, ended = sdecode(redis.call("HGET", K_LOAD, f))
    out[#out + 1] = string.format(REC_WIRE, f, calls, talking, r.drained, ended, r.seq, r.last, r.started,
      r.answered, fade(r.score, r.score_at, now, half), r.missed, r.back)
  elseif part == "holds" and kind == 10 then -- "\n<call>"; the counter is "\r"
    local call = string.sub(f, 2)
    for _, h in ipairs(holds_of(kv[i + 1])) do
      local e = redis.call("ZSCORE", K_EXP, member(h.dest, call))
      if not (e and tonumber(e) <= now) then
        local state = RINGING_NAME
        if h.state == TALKING then state = TALKING_NAME end
        out[#out + 1] = string.format(HOLD_WIRE, h.dest, call, h.start, state, h.node, e or "0")
      end
    end
  end
end
return {page[1], out, now, offset}
