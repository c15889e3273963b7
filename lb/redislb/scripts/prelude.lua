-- prelude.lua is prepended to every ringlb script (see scripts.go), so the
-- key layout, the codecs of what it stores, the clock, fading and the
-- reaping rule are written once. Before it, scripts.go defines MAX_IDLE
-- and GONE_KEEP from Go's constants, their one home.
--
-- Every command a script sends Redis costs more than the Lua around it, so
-- the layout is built for few commands: what one operation reads is one
-- HMGET of one hash, what it changes one HSET of that hash plus the lease
-- zset.
--
-- KEYS, the same for every script: a balancer's four, then the three its
-- deployment (every balancer on this Redis with this key prefix) shares;
-- all share the hash tag {ringlb}, so one script may touch them all:
--   1 exp   ZSET  "<dest>\n<call>" of every hold, scored by its lease
--                 expiry (ms), never later than its hard expiry
--   2 mem   HASH  two kinds of field:
--                 dest          -> its member record (see rec_of)
--                 "\n" .. call  -> the call's holds, one line each (see
--                                  HOLD_LINE)
--                 "\rstart"     -> when the balancer first ranked members
--                                  by a tie score (ms): its start window
--                                  runs from there (see ops.lua)
--                 Destinations and call ids never hold control characters
--                 (checked in Go), so the kinds never meet.
--   3 idle  ZSET  destinations by when they last became idle (ms): beyond
--                 MAX_IDLE the oldest idle ones are forgotten
--   4 gone  ZSET  "<dest>\n<call>" of holds dropped for good (reset, past
--                 their maximum age, released by another node), scored by
--                 when the note lapses (ms, GONE_KEEP later): renewal tells
--                 them from holds lost in a failover, which it takes back
--   5 load  HASH  the deployment's: what every balancer counts as load
--                 member        -> its shared record (see srec_of): the
--                                  distinct calls holding it in any
--                                  balancer, of which talking, and when its
--                                  last answered call ended
--                 "\n" .. call  -> the members the call holds, one line
--                                  each (see SHARE_LINE): member, state,
--                                  the balancers holding it
--                 "\r"          -> "<seq> <offset> <mark>": the counter
--                                  behind the lru order, and the clock's
--                                  offset and mark (see begin): one clock
--                                  for the deployment
--   6 lease ZSET  "<dest>\n<call>\n<balancer>" of every hold of every
--                 balancer, scored as in its exp: any balancer's script
--                 drops a lapsed one from load, so a dead node's calls stop
--                 counting everywhere, even in a balancer never called again
--   7 cool  ZSET  members of load with no call, kept for the wrap-up after
--                 their last answered call, by when it ended: beyond
--                 MAX_IDLE the oldest are forgotten
-- ARGV, by one convention for every script: ARGV[1] is the most lapsed
-- holds the script may drop (reaping is bounded per call), and the
-- script's own arguments follow from ARGV[2]. Every script starts with
-- begin(), which reads the clock and reaps.
local K_EXP, K_MEM, K_IDLE, K_GONE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_LOAD, K_LEASE, K_COOL = KEYS[5], KEYS[6], KEYS[7]

-- NAME is this balancer's name: its keys are the deployment's base (load's
-- key without "load") then "<name>:<part>" (see scripts.go).
local NAME = string.sub(K_EXP, #K_LOAD - 3, -#":exp" - 1)

-- F_SEQ is the field of load holding the lru counter and the clock's
-- offset and mark: one field, read with the clock by begin().
local F_SEQ = "\r"

-- CLOCK_MARK is how far the clock runs past its stored mark before the
-- mark is written again (ms): a backward step of the server's clock larger
-- than this is caught, one smaller may extend deadlines by as much.
local CLOCK_MARK = 100

-- MAX_IDLE (set by scripts.go) is how many idle destinations a balancer's
-- keys remember (their lru order, calls started and answered): the state
-- of a destination idle longest beyond it is forgotten, so any stream of
-- distinct destinations keeps Redis's memory bounded. Drained and held
-- destinations are always kept.

-- GONE_KEEP (set by scripts.go) is how long a note in gone lasts (ms):
-- longer than any renewal period.

-- clock is the script's time, set once by begin(), offset how far it is
-- ahead of the server's clock and mark the latest time stored (ms); seq is
-- the lru counter; all_reaped is true when begin() dropped every hold
-- whose lease had run out, so no other lapsed hold is left to look for.
local clock, offset, mark, seq, all_reaped = 0, 0, 0, 0, false

local function member(dest, call)
  return dest .. "\n" .. call
end

local function split_member(m)
  local j = string.find(m, "\n", 1, true)
  return string.sub(m, 1, j - 1), string.sub(m, j + 1)
end

-- call_field is the field of mem listing a call's holds.
local function call_field(call)
  return "\n" .. call
end

-- The codec of member records. A record holds thirteen numbers, in the
-- order rec_of names them: live holds, drained (1 or 0), end of wrap-up
-- (ms), lru order of the last hold start (0 = never), when the tie score
-- last changed (ms; 0 = no score yet), the tie score (answered calls for
-- fewest, talk seconds for talk), talking holds, last hold start (ms),
-- holds started, calls answered, end of the no-answer back-off (ms),
-- unanswered offers in a row, and the lift state (LIFT_NONE, LIFT_PENDING,
-- LIFT_AWAY; see ops.lua). Redis's Lua has the struct library, which packs
-- them as doubles: reading a group's records is then one C call per
-- destination, not a string parse. Servers without it (test doubles)
-- store the same numbers as text. A record of the ten numbers written
-- before the last three existed reads with those three at zero. encode
-- and decode are the codec; rec_of and rec_bytes give the fields their
-- names, and every script reads and writes records through them (a loop
-- over many records reads the few fields it needs from decode, in this
-- order, with no table).
local REC_FMT, REC_FMT10, REC_LEN10 = "<ddddddddddddd", "<dddddddddd", 80
local REC_TEXT = "%d %d %d %d %d %.17g %d %d %d %d %d %d %d"
local REC_MATCH = "^(%d+) (%d) (%d+) (%d+) (%d+) (%S+) (%d+) (%d+) (%d+) (%d+)(.*)$"
local REC_MORE = "^ (%d+) (%d+) (%d)$"
local LIFT_NONE, LIFT_PENDING, LIFT_AWAY = 0, 1, 2
local encode, decode
if type(rawget(_G, "struct")) == "table" then
  encode = function(...) return struct.pack(REC_FMT, ...) end
  decode = function(s)
    if not s then return 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 end
    if #s == REC_LEN10 then
      local c, d, w, q, sa, sc, t, l, st, a = struct.unpack(REC_FMT10, s)
      return c, d, w, q, sa, sc, t, l, st, a, 0, 0, 0
    end
    return struct.unpack(REC_FMT, s)
  end
else
  encode = function(...) return string.format(REC_TEXT, ...) end
  decode = function(s)
    if not s then return 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 end
    local c, d, w, q, sa, sc, t, l, st, a, more = string.match(s, REC_MATCH)
    local b, m, lf = string.match(more, REC_MORE)
    return tonumber(c), tonumber(d), tonumber(w), tonumber(q), tonumber(sa), tonumber(sc),
      tonumber(t), tonumber(l), tonumber(st), tonumber(a), tonumber(b) or 0, tonumber(m) or 0, tonumber(lf) or 0
  end
end

-- rec_of reads the stored record s (false: none, all zeros).
local function rec_of(s)
  local c, d, w, q, sa, sc, t, l, st, a, b, m, lf = decode(s)
  return {cnt = c, drained = d, wrap = w, seq = q, score_at = sa, score = sc, talking = t, last = l,
    started = st, answered = a, back = b, missed = m, lift = lf}
end

local function rec_bytes(r)
  return encode(r.cnt, r.drained, r.wrap, r.seq, r.score_at, r.score, r.talking, r.last, r.started,
    r.answered, r.back, r.missed, r.lift)
end

-- F_SEQ's value packs three numbers (see set_clock) the same way, as
-- doubles when Redis has struct, else as text; a value of an earlier
-- layout is the lru counter alone, as text.
local SEQ_FMT, SEQ_TEXT, SEQ_MATCH = "<ddd", "%d %d %d", "^(%d+) (%d+) (%d+)$"
local seq_bytes, seq_decode
if type(rawget(_G, "struct")) == "table" then
  seq_bytes = function() return struct.pack(SEQ_FMT, seq, offset, mark) end
  seq_decode = function(st)
    if #st == 24 then return struct.unpack(SEQ_FMT, st) end
    return tonumber(st) or 0, 0, 0
  end
else
  seq_bytes = function() return string.format(SEQ_TEXT, seq, offset, mark) end
  seq_decode = function(st)
    local q, o, m = string.match(st, SEQ_MATCH)
    if q then return tonumber(q), tonumber(o), tonumber(m) end
    return tonumber(st) or 0, 0, 0
  end
end

-- The codec of holds. A call's holds are one line each,
-- "<dest>\t<start_ms>\t<hard_ms>\t<state>\t<node>" (HOLD_LINE), hard
-- the hold's maximum age as an absolute time (0 = none) and state RINGING
-- or TALKING (RINGING_NAME and TALKING_NAME are their names, which Go
-- uses: lb.StateRinging, lb.StateTalking). holds_of reads a call's field,
-- holds_text writes it back, and HOLD_OWNER reads of one line what renewal
-- needs of every live hold (its hard expiry and node) with no table:
-- every script reads and writes holds through them.
local HOLD_LINE = "([^\t\n]+)\t(%d+)\t(%d+)\t(%a)\t([^\n]*)"
local HOLD_OWNER = "^[^\t\n]+\t%d+\t(%d+)\t%a\t([^\n]*)$"
local RINGING, TALKING = "r", "t"
local RINGING_NAME, TALKING_NAME = "ringing", "talking"

-- holds_of reads a call's holds (its field of mem, or false) into a list.
local function holds_of(v)
  local out = {}
  if v then
    for d, s, h, st, nd in string.gmatch(v, HOLD_LINE) do
      out[#out + 1] = {dest = d, start = s, hard = tonumber(h), state = st, node = nd}
    end
  end
  return out
end

-- holds_text writes a call's holds back; nil when there are none.
local function holds_text(list)
  if #list == 0 then return nil end
  local lines = {}
  for i, h in ipairs(list) do
    lines[i] = h.dest .. "\t" .. h.start .. "\t" .. h.hard .. "\t" .. h.state .. "\t" .. h.node
  end
  return table.concat(lines, "\n")
end

-- fade is a tie score, last changed at, as it weighs at now: it
-- halves every half ms (half <= 0: never). It is the one form of fading
-- in Lua, as rankOf and scoreOf in lb/order.go are Go's.
local function fade(score, at, now, half)
  if half <= 0 or now <= at or score == 0 then
    return score
  end
  return score * 2 ^ (-(now - at) / half)
end

-- line_of returns dest's line in a call's holds text v, or nil; for a
-- call with one hold, the common case, that is v itself.
local function line_of(v, dest)
  local key = dest .. "\t"
  local s = 1
  while true do
    local i = string.find(v, key, s, true)
    if not i then return nil end
    if i == 1 or string.byte(v, i - 1) == 10 then
      local j = string.find(v, "\n", i, true)
      if not j then return string.sub(v, i) end
      return string.sub(v, i, j - 1)
    end
    s = i + 1
  end
end

-- find returns the index of dest's hold in a call's holds, or nil.
local function find(list, dest)
  for i, h in ipairs(list) do
    if h.dest == dest then return i end
  end
  return nil
end

-- find_name returns the index of name in list, or nil.
local function find_name(list, name)
  for i, x in ipairs(list) do
    if x == name then return i end
  end
  return nil
end

-- The deployment's load. Every balancer on one Redis with one key prefix
-- counts a member's load in load: the distinct calls holding it in any of
-- them, whichever placed the call, so a call held by a ring group on one
-- balancer and counted by the call tracker on another counts once. Each
-- balancer's holds stay its own (mem, exp); each adds itself to the calls
-- it holds here (share_hold), and takes itself off when its hold ends
-- (share_drop); lease has every balancer's holds by lease expiry, so
-- whichever script runs first drops a lapsed one here (reap_shared), and
-- the ZREM of its entry in lease is what counts a hold out, once.

-- The codec of shared records: three numbers, the calls holding the
-- member, of which talking, and when its last answered call ended (ms; 0
-- never), packed as doubles when Redis has struct, else as text.
local SREC_FMT, SREC_TEXT, SREC_MATCH = "<ddd", "%d %d %d", "^(%d+) (%d+) (%d+)$"
local sencode, sdecode
if type(rawget(_G, "struct")) == "table" then
  sencode = function(...) return struct.pack(SREC_FMT, ...) end
  sdecode = function(s)
    if not s then return 0, 0, 0 end
    return struct.unpack(SREC_FMT, s)
  end
else
  sencode = function(...) return string.format(SREC_TEXT, ...) end
  sdecode = function(s)
    if not s then return 0, 0, 0 end
    local c, t, e = string.match(s, SREC_MATCH)
    return tonumber(c), tonumber(t), tonumber(e)
  end
end

local function srec_of(s)
  local c, t, e = sdecode(s)
  return {calls = c, talking = t, ended = e}
end

local function srec_bytes(r)
  return sencode(r.calls, r.talking, r.ended)
end

-- A call's members in load are one line each, "<member>\t<state>\t<balancer>
-- [\t<balancer>...]" (SHARE_LINE): the balancers holding it. Names hold no
-- control character (checked in Go).
local function shares_of(v)
  local out = {}
  if v then
    for line in string.gmatch(v, "[^\n]+") do
      local f, e = {}, 0
      for x in string.gmatch(line, "[^\t]+") do
        e = e + 1
        f[e] = x
      end
      out[#out + 1] = {dest = f[1], state = f[2], bals = {unpack(f, 3, e)}}
    end
  end
  return out
end

local function shares_text(list)
  if #list == 0 then return nil end
  local lines = {}
  for i, h in ipairs(list) do
    lines[i] = h.dest .. "\t" .. h.state .. "\t" .. table.concat(h.bals, "\t")
  end
  return table.concat(lines, "\n")
end

local function lease_member(dest, call, bal)
  return dest .. "\n" .. call .. "\n" .. bal
end

-- shares_held reports whether the call whose load field is v holds dest in
-- any balancer.
local function shares_held(v, dest)
  if not v then return false end
  for _, h in ipairs(shares_of(v)) do
    if h.dest == dest then return true end
  end
  return false
end

-- write_shared writes dest's shared record r and the call's lines (list),
-- and the clock's field when with_seq, in one HSET; a member with no call
-- is kept only for a wrap-up, in cool, of which the oldest beyond MAX_IDLE
-- are forgotten.
local function write_shared(dest, r, call, list, with_seq)
  local cf = call_field(call)
  local text = shares_text(list)
  local set, del = {}, {}
  if text then
    set[1], set[2] = cf, text
  else
    del[1] = cf
  end
  if with_seq then
    set[#set + 1] = F_SEQ
    set[#set + 1] = seq_bytes()
  end
  if r.calls > 0 or r.ended > 0 then
    set[#set + 1] = dest
    set[#set + 1] = srec_bytes(r)
  else
    del[#del + 1] = dest
  end
  if #set > 0 then redis.call("HSET", K_LOAD, unpack(set)) end
  if #del > 0 then redis.call("HDEL", K_LOAD, unpack(del)) end
  if r.calls > 0 or r.ended == 0 then return end
  if redis.call("ZADD", K_COOL, r.ended, dest) == 0 then return end
  local over = redis.call("ZCARD", K_COOL) - MAX_IDLE
  if over <= 0 then return end
  local old = redis.call("ZRANGE", K_COOL, 0, math.min(over, 8) - 1)
  redis.call("ZREM", K_COOL, unpack(old))
  for i = 1, #old do
    if sdecode(redis.call("HGET", K_LOAD, old[i])) == 0 then
      redis.call("HDEL", K_LOAD, old[i])
    end
  end
end

-- share_hold adds this balancer to the holders of call on dest, in state
-- (RINGING or TALKING), until its lease expiry exp, and writes the clock's
-- field (a hold moves the lru counter). sr and sl are dest's field and the
-- call's of load when the caller read them already (false: none), else
-- nil.
local function share_hold(dest, call, state, exp, sr, sl)
  if sr == nil then
    local v = redis.call("HMGET", K_LOAD, dest, call_field(call))
    sr, sl = v[1], v[2]
  end
  local r, list = srec_of(sr), shares_of(sl)
  local k = find(list, dest)
  if k then
    local h = list[k]
    if not find_name(h.bals, NAME) then h.bals[#h.bals + 1] = NAME end
    if state == TALKING and h.state ~= TALKING then
      h.state = TALKING
      r.talking = r.talking + 1
    end
  else
    list[#list + 1] = {dest = dest, state = state, bals = {NAME}}
    r.calls = r.calls + 1
    if state == TALKING then r.talking = r.talking + 1 end
    if r.calls == 1 and r.ended > 0 then redis.call("ZREM", K_COOL, dest) end
  end
  write_shared(dest, r, call, list, true)
  redis.call("ZADD", K_LEASE, exp, lease_member(dest, call, NAME))
end

-- unshare takes balancer bal off the holders of call on dest; when none is
-- left the call no longer loads dest, and ended (a release) starts the
-- member's wrap-up if it was answered.
local function unshare(dest, call, bal, ended)
  local v = redis.call("HMGET", K_LOAD, dest, call_field(call))
  local list = shares_of(v[2])
  local k = find(list, dest)
  if not k then return end
  local h = list[k]
  local j = find_name(h.bals, bal)
  if not j then return end
  table.remove(h.bals, j)
  local r = srec_of(v[1])
  if #h.bals == 0 then
    table.remove(list, k)
    if r.calls > 0 then r.calls = r.calls - 1 end
    if h.state == TALKING then
      if r.talking > 0 then r.talking = r.talking - 1 end
      if ended and clock > r.ended then r.ended = clock end
    end
  end
  if r.talking > r.calls then r.talking = r.calls end
  write_shared(dest, r, call, list, false)
end

-- share_drop counts this balancer's hold of call on dest out of load,
-- unless a reap did already.
local function share_drop(dest, call, ended)
  if redis.call("ZREM", K_LEASE, lease_member(dest, call, NAME)) == 1 then
    unshare(dest, call, NAME, ended)
  end
end

-- share_answered marks call's hold of dest talking in load.
local function share_answered(dest, call)
  local v = redis.call("HMGET", K_LOAD, dest, call_field(call))
  local list = shares_of(v[2])
  local k = find(list, dest)
  if not k or list[k].state == TALKING then return end
  list[k].state = TALKING
  local r = srec_of(v[1])
  r.talking = r.talking + 1
  if r.talking > r.calls then r.talking = r.calls end
  write_shared(dest, r, call, list, false)
end

-- reap_shared drops from load up to limit holds of any balancer whose
-- lease ran out.
local function reap_shared(limit)
  local gone = redis.call("ZRANGEBYSCORE", K_LEASE, "-inf", clock, "LIMIT", 0, limit)
  if #gone == 0 then return end
  redis.call("ZREM", K_LEASE, unpack(gone))
  for i = 1, #gone do
    local m = gone[i]
    local a = string.find(m, "\n", 1, true)
    local b = string.find(m, "\n", a + 1, true)
    unshare(string.sub(m, 1, a - 1), string.sub(m, a + 1, b - 1), string.sub(m, b + 1), false)
  end
end

-- save writes dest's record and the call's holds in one HSET (one HDEL
-- more when the call has no hold left).
local function save(dest, r, call, list)
  local cf = call_field(call)
  local text = holds_text(list)
  if text then
    redis.call("HSET", K_MEM, dest, rec_bytes(r), cf, text)
  else
    redis.call("HSET", K_MEM, dest, rec_bytes(r))
    redis.call("HDEL", K_MEM, cf)
  end
end

-- mark_idle notes that dest has no hold from now on. Past MAX_IDLE, the
-- destinations idle longest are forgotten, a few per call (each call marks
-- at most a few idle). A destination is not taken out of idle when a call
-- holds it: forgetting skips held ones, and its time moves on when it is
-- idle again.
local function mark_idle(dest)
  if redis.call("ZADD", K_IDLE, clock, dest) == 0 then
    return -- known already: the count did not grow
  end
  local over = redis.call("ZCARD", K_IDLE) - MAX_IDLE
  if over <= 0 then return end
  local old = redis.call("ZRANGE", K_IDLE, 0, math.min(over, 8) - 1)
  redis.call("ZREM", K_IDLE, unpack(old))
  for i = 1, #old do
    local d = old[i]
    local cnt, drained = decode(redis.call("HGET", K_MEM, d))
    if cnt == 0 and drained == 0 then
      redis.call("HDEL", K_MEM, d)
    end
  end
end

-- note_gone notes that hold m ended for good, so that its node's renewal
-- does not take it back.
local function note_gone(m)
  redis.call("ZADD", K_GONE, clock + GONE_KEEP, m)
end

-- drop_at removes hold k of a call's holds (list) on dest, whose record is
-- r, and returns it; the count of dest follows, and never goes below zero.
-- ended says the call ended (a release): see unshare.
local function drop_at(dest, call, r, list, k, ended)
  local h = table.remove(list, k)
  redis.call("ZREM", K_EXP, member(dest, call))
  if r.cnt > 0 then r.cnt = r.cnt - 1 end
  if h.state == TALKING and r.talking > 0 then r.talking = r.talking - 1 end
  if r.talking > r.cnt then r.talking = r.cnt end
  save(dest, r, call, list)
  share_drop(dest, call, ended)
  if r.cnt == 0 then
    mark_idle(dest)
  end
  return h
end

-- drop removes hold m if it exists and returns it (false if there was
-- none).
local function drop(m, ended)
  local dest, call = split_member(m)
  local v = redis.call("HMGET", K_MEM, dest, call_field(call))
  local list = holds_of(v[2])
  local k = find(list, dest)
  if not k then
    redis.call("ZREM", K_EXP, m)
    return false
  end
  return drop_at(dest, call, rec_of(v[1]), list, k, ended)
end

-- expire drops hold m, whose lease or maximum age ran out. Past its
-- maximum age it is gone for good; a lapsed lease is not: its node, if
-- alive, takes the hold back.
local function expire(m)
  local h = drop(m, false)
  if h and h.hard > 0 and h.hard <= clock then note_gone(m) end
end

-- The clock. Every deadline stored (lease and maximum age of holds, end
-- of wrap-up) is absolute, so the clock must never go back: it is the
-- server's clock plus an offset kept in F_SEQ with a mark of the latest
-- time a script saw. When the server's clock steps back below the mark,
-- the offset grows by the step and time goes on from the mark: a backward
-- step extends nothing (by at most CLOCK_MARK). A forward step is taken
-- as it comes: it may end leases and wrap-ups early (renewal takes live
-- holds back), never extend them.

-- set_clock sets seq, offset, mark and clock from the server's clock raw
-- (ms) and F_SEQ's value st (false when there is none), and writes F_SEQ
-- when the mark moves.
local function set_clock(raw, st)
  if st then
    seq, offset, mark = seq_decode(st)
  end
  clock = raw + offset
  local stepped = clock < mark
  if stepped then
    offset = mark - raw
    clock = mark
  end
  if stepped or clock >= mark + CLOCK_MARK then
    mark = clock
    redis.call("HSET", K_LOAD, F_SEQ, seq_bytes())
  end
end

-- begin reads the clock, the one clock all nodes share, and drops up to
-- ARGV[1] holds whose lease or maximum age ran out, this balancer's first,
-- then any balancer's from load (unless own_only: a script that reads no
-- load, whose work a lapsed hold of another balancer changes nothing of),
-- so every script does bounded work however many lapsed at once. It
-- returns the time.
local function begin(own_only)
  local t = redis.call("TIME")
  set_clock(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), redis.call("HGET", K_LOAD, F_SEQ))
  local limit = tonumber(ARGV[1])
  local gone = redis.call("ZRANGEBYSCORE", K_EXP, "-inf", clock, "LIMIT", 0, limit)
  for i = 1, #gone do
    expire(gone[i])
  end
  all_reaped = #gone < limit
  if #gone < limit and not own_only then
    reap_shared(limit - #gone) -- one budget for both
  end
  return clock
end

-- lapsed reports whether hold m's lease ran out although no reap has
-- dropped it yet (reaping is bounded per call); such a hold is gone.
local function lapsed(m)
  if all_reaped then return false end
  local e = redis.call("ZSCORE", K_EXP, m)
  return e ~= false and e ~= nil and tonumber(e) <= clock
end

-- read is HMGET of fields of mem, where field ci is a call's holds, after
-- dropping any of those holds whose lease ran out unreaped.
local function read(fields, ci, call)
  local v = redis.call("HMGET", K_MEM, unpack(fields))
  if all_reaped or not v[ci] then return v end
  local dropped = false
  for _, h in ipairs(holds_of(v[ci])) do
    local m = member(h.dest, call)
    if lapsed(m) then
      expire(m)
      dropped = true
    end
  end
  if dropped then
    v = redis.call("HMGET", K_MEM, unpack(fields))
  end
  return v
end

-- hold records a new hold of call on dest (record r; list the call's
-- holds), started now in state (RINGING or TALKING), with maximum age age
-- ms (0 = none); sr and sl as share_hold's.
local function hold(dest, call, r, list, lease, age, node, state, sr, sl)
  local hard = 0
  local exp = clock + lease
  if age > 0 then
    hard = clock + age
    if hard < exp then exp = hard end
  end
  list[#list + 1] = {dest = dest, start = clock, hard = hard, state = state, node = node}
  r.cnt = r.cnt + 1
  if state == TALKING then r.talking = r.talking + 1 end
  seq = seq + 1
  mark = clock
  r.seq = seq
  r.last = clock
  r.started = r.started + 1
  redis.call("HSET", K_MEM, dest, rec_bytes(r), call_field(call), holds_text(list))
  redis.call("ZADD", K_EXP, exp, member(dest, call))
  share_hold(dest, call, state, exp, sr, sl)
end
