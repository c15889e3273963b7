-- answered.lua marks a hold answered: ringing turns to talking, and the
-- destination's answered count and fewest score grow by one call.
-- ARGV: reap_limit, half_life_ms, member ("<dest>\n<call>").
-- Reply: 1 if it was ringing, 0 if not held or already talking.
local half, m = tonumber(ARGV[2]), ARGV[3]
local now = begin()
local h = redis.call("HGET", K_HOLD, m)
if not h or lapsed(m, now) or hold_field(h, 3) ~= "r" then
  return 0
end
redis.call("HSET", K_HOLD, m, hold_field(h, 1) .. "\n" .. hold_field(h, 2) .. "\nt\n" .. hold_field(h, 4))
local dest = dest_of(m)
local r = rec_of(redis.call("HGET", K_MEM, dest))
r.talking = r.talking + 1
if r.talking > r.cnt then r.talking = r.cnt end
r.answered = r.answered + 1
r.score, r.score_at = fade(r.score, r.score_at, now, half) + 1, now
put(dest, r)
return 1
