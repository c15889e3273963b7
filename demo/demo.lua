-- demo.lua SO_DIR - calls arriving at two ring groups that share agents,
-- through the real ringlb.so in a real Lua interpreter. Each call asks the
-- balancer for the least-loaded member of its group, holds it for the whole
-- (simulated) call, and releases it when the call ends. The same arrivals are
-- run with lru ties (ringlb's default) and list ties (what genesis does).
local so_dir = arg[1] or "build/lua5.3"
package.cpath = so_dir .. "/?.so;" .. package.cpath
local ringlb = require "ringlb"

-- A small deterministic generator, so every Lua version sees the same calls.
local seed = 20261124
local function rnd()
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
end
local function exp(mean) return -mean * math.log(1 - rnd()) end

local groups = {
  sales   = { "user/1001", "user/1002", "user/1003" },
  support = { "user/1002", "user/1003", "user/1004", "user/1005" },
}
local agents = { "user/1001", "user/1002", "user/1003", "user/1004", "user/1005" }

-- The arrivals: one call every 40 s on average, talk time 90 s on average.
local calls, t = {}, 0
for i = 1, 400 do
  t = t + exp(40)
  calls[i] = { at = t, group = (rnd() < 0.5) and "sales" or "support", talk = exp(90), id = "demo-call-" .. i }
end

local function run(tie)
  local b = assert(ringlb.open("demo-" .. tie, { tie = tie }))
  local answered, active, peak, ending = {}, {}, {}, {}
  for _, a in ipairs(agents) do answered[a], active[a], peak[a] = 0, 0, 0 end
  for _, c in ipairs(calls) do
    -- End the calls that are over by now, earliest first.
    table.sort(ending, function(x, y) return x.at > y.at end)
    while #ending > 0 and ending[#ending].at <= c.at do
      local e = table.remove(ending)
      assert(b:release(e.dest, e.id))
      active[e.dest] = active[e.dest] - 1
    end
    local dest, err = b:next(groups[c.group], c.id)
    if dest then
      answered[dest] = answered[dest] + 1
      active[dest] = active[dest] + 1
      if active[dest] > peak[dest] then peak[dest] = active[dest] end
      ending[#ending + 1] = { at = c.at + c.talk, dest = dest, id = c.id }
    else
      io.write("  call ", c.id, ": ", err, "\n")
    end
  end
  for _, e in ipairs(ending) do assert(b:release(e.dest, e.id)) end
  for _, a in ipairs(agents) do assert(b:load(a) == 0, "a hold leaked") end
  return answered, peak
end

print(string.format("ringlb %s on %s: %d calls into two groups sharing agents", ringlb._VERSION, _VERSION, #calls))
print("  sales   = 1001 1002 1003;  support = 1002 1003 1004 1005")
print("  one call every 40 s on average, 90 s talk time on average (simulated)\n")
local la, lp = run("lru")
local sa, sp = run("list")
print("| agent     | answered (lru) | peak calls (lru) | answered (list) | peak calls (list) |")
print("|-----------|---------------:|-----------------:|----------------:|------------------:|")
for _, a in ipairs(agents) do
  print(string.format("| %s | %14d | %16d | %15d | %17d |", a, la[a], lp[a], sa[a], sp[a]))
end
local function spread(t)
  local lo, hi = math.huge, 0
  for _, a in ipairs(agents) do lo = math.min(lo, t[a]); hi = math.max(hi, t[a]) end
  return hi, lo
end
local h1, l1 = spread(la)
local h2, l2 = spread(sa)
print(string.format("\nmost/least answered: lru %d/%d, list %d/%d", h1, l1, h2, l2))
print("With list ties the first member of each group takes every call that finds")
print("the group idle; lru hands those calls to whoever has waited longest.")
