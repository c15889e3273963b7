-- lua_bench.lua SO_DIR [--quick] [--cgo-floor NS] [--cycles N]
--
-- The ringlb Lua module measured from Lua 5.3 (run it with lua5.3): calls
-- per second and ns per b:next + b:release over 10 destinations, next to
-- floors measured in the same run:
--   * the Lua -> C floor: math.abs(1), a stdlib C function cached in a
--     local (pure Lua -> C -> Lua, no Go). rawlen, select and rawequal are
--     shown next to it for reference only; the floor is math.abs;
--   * the module's own floor: ringlb._noop(), cached in a local, a C
--     function that enters Go and returns nothing through the same dispatch
--     path as every module call (Lua -> C -> Go -> back);
--   * a method call into C through a metatable, s:len() on a string, which
--     has the same shape as b:next(...) (metatable __index, then a C call);
--   * an empty Lua loop (the loop's own cost, included in every figure).
-- --cgo-floor passes ringlb_noop's ns from bench/cabi (same run, 1 thread,
-- RINGLB_DISPATCH=auto), for the issue's target: next+release within
-- 3 x (Lua->C floor + cgo floor), with math.abs as the Lua->C floor.
-- next+release is also given as a ratio to 2 x ringlb._noop (a pair is two
-- calls through the module).
-- Then memory: process RSS (/proc/self/statm) and the Lua heap after
-- 1,000,000 cycles with distinct call ids and after 1,000,000 more.
--
-- Wall time comes from /proc/timer_list ("now at N nsecs", read only at
-- trial boundaries); where that cannot be read it falls back to os.clock()
-- (process CPU time, which also counts Go's background threads) and says
-- so. Output: a markdown fragment, then "@key value" lines for run.sh.
-- It measures only and asserts no timing.

local so_dir = assert(arg[1], "usage: lua5.3 lua_bench.lua SO_DIR [--quick] [--cgo-floor NS] [--cycles N]")
local quick, cgo_floor, cycles = false, nil, 1000000
do
  local i = 2
  while arg[i] do
    if arg[i] == "--quick" then quick = true; cycles = 100000
    elseif arg[i] == "--cgo-floor" then i = i + 1; cgo_floor = tonumber(arg[i])
    elseif arg[i] == "--cycles" then i = i + 1; cycles = assert(tonumber(arg[i]), "--cycles N")
    else error("unknown argument " .. arg[i]) end
    i = i + 1
  end
end
package.cpath = so_dir .. "/?.so;" .. package.cpath
local ringlb = require "ringlb"

-- clock -------------------------------------------------------------------

local clock_name = "wall (/proc/timer_list)"
local function now_ns()
  local f = io.open("/proc/timer_list", "r")
  if not f then return nil end
  local s = f:read(512)
  f:close()
  local n = s and s:match("now at (%d+) nsecs")
  return n and tonumber(n)
end
if not now_ns() then
  clock_name = "process CPU (os.clock; /proc/timer_list unreadable)"
  now_ns = function() return os.clock() * 1e9 end
end

local function rss_kib()
  local f = io.open("/proc/self/statm", "r")
  if not f then return -1 end
  local _, res = f:read("n", "n")
  f:close()
  return res * 4 -- pages of 4 KiB (amd64, arm64 default)
end

-- setup -------------------------------------------------------------------

local NDEST = 10
local dests = {}
for i = 1, NDEST do dests[i] = ("user/%d@pbx.example.com"):format(999 + i) end
local ids = {}
for i = 0, 1023 do ids[i] = ("l-%08x-1c2d-4e5f-8a9b-%012x"):format(i, i * 7919) end

local b = assert(ringlb.open("bench-lua"))
for i = 1, NDEST do -- the same light preload as the other benchmarks
  for k = 1, (i - 1) % 3 do assert(b:acquire(dests[i], ("pre-%d-%d"):format(i, k))) end
end

-- the measured loops (each takes n and returns nothing) -----------------------

local abs, rawlen, select, rawequal = math.abs, rawlen, select, rawequal
local noop = assert(ringlb._noop, "ringlb._noop missing: rebuild the module (./build.sh 5.3)")
local t1 = {1}
local str = "x"

local ops = {
  { key = "empty", name = "empty Lua loop", f = function(n) for _ = 1, n do end end },
  { key = "abs", name = "math.abs(1) (stdlib C, Lua→C floor)", f = function(n) for _ = 1, n do abs(1) end end },
  { key = "rawlen", name = "rawlen(t) (stdlib C, reference)", f = function(n) for _ = 1, n do rawlen(t1) end end },
  { key = "select", name = "select('#') (stdlib C, reference)", f = function(n) for _ = 1, n do select('#') end end },
  { key = "rawequal", name = "rawequal(t, t) (stdlib C, reference)", f = function(n) for _ = 1, n do rawequal(t1, t1) end end },
  { key = "method", name = "s:len() (C method via metatable)", f = function(n) for _ = 1, n do str:len() end end },
  { key = "noop", name = "ringlb._noop() (Lua→C→Go→back, module floor)", f = function(n) for _ = 1, n do noop() end end },
  { key = "nextrel", name = "b:next + b:release, 10 dests", f = function(n)
      for i = 1, n do
        local id = ids[i & 1023]
        local d = b:next(dests, id)
        b:release(d, id)
      end
    end },
}

local function time_ns(f, n)
  local t0 = now_ns()
  f(n)
  return now_ns() - t0
end

-- size each op's batch to about trial_ns, then interleave trials
local trial_ns = quick and 20e6 or 150e6
local trials = quick and 3 or 7
for _, op in ipairs(ops) do
  op.f(1000)
  local probe = op.key == "nextrel" and 20000 or 2000000
  local per = time_ns(op.f, probe) / probe
  op.n = math.max(1000, math.floor(trial_ns / math.max(per, 0.5)))
  op.v = {}
end
for _ = 1, trials do
  for _, op in ipairs(ops) do op.v[#op.v + 1] = time_ns(op.f, op.n) / op.n end
end
local res = {}
for _, op in ipairs(ops) do
  table.sort(op.v)
  local m = #op.v
  op.ns = (m % 2 == 1) and op.v[(m + 1) // 2] or (op.v[m // 2] + op.v[m // 2 + 1]) / 2
  res[op.key] = op
end

local floor = res.abs -- the Lua -> C floor, by definition (not the fastest of the stdlib rows)
local mnoop = res.noop

-- output --------------------------------------------------------------------

local out = {}
local function p(fmt, ...) out[#out + 1] = fmt:format(...) end
p("#### Lua %s through ringlb.so\n", _VERSION:match("%d+%.%d+"))
p("Median of %d interleaved trials of ~%.0f ms each; clock: %s. Figures include the loop's own cost.\n",
  trials, trial_ns / 1e6, clock_name)
p("| operation | ns per call | calls/s | × math.abs | × ringlb._noop |")
p("|---|---:|---:|---:|---:|")
for _, op in ipairs(ops) do
  p("| %s | %.1f | %.3g | %.2f | %.2f |", op.name, op.ns, 1e9 / op.ns, op.ns / floor.ns, op.ns / mnoop.ns)
end
local nr = res.nextrel.ns
p("")
p("next+release pairs/s from Lua: **%.0f** (%.0f ns per pair).", 1e9 / nr, nr)
p("")
p("- Module floor: ringlb._noop() %.1f ns = math.abs %.1f ns + %.1f ns for the trip into Go and back.",
  mnoop.ns, floor.ns, mnoop.ns - floor.ns)
if cgo_floor then
  local target = 3 * (floor.ns + cgo_floor)
  p("- Issue target: next+release within 3 × (Lua→C floor math.abs %.1f ns + cgo floor %.1f ns from bench/cabi, " ..
    "same run) = %.0f ns; measured %.0f ns = **%.2f ×** (math.abs + cgo floor): target **%s**.",
    floor.ns, cgo_floor, target, nr, nr / (floor.ns + cgo_floor), nr <= target and "met" or "NOT met")
  p("- Cross-check: math.abs + cgo floor = %.1f ns against ringlb._noop measured here at %.1f ns (%.2f ×).",
    floor.ns + cgo_floor, mnoop.ns, mnoop.ns / (floor.ns + cgo_floor))
end
p("- A pair is two calls through the module: next+release / (2 × ringlb._noop %.1f ns = %.1f ns) = **%.2f ×**; " ..
  "the other %.0f ns is what next and release do beyond two empty module calls (method lookup, the id " ..
  "and destination arguments, the balancer's work in Go, the result).",
  mnoop.ns, 2 * mnoop.ns, nr / (2 * mnoop.ns), nr - 2 * mnoop.ns)
p("")

-- memory --------------------------------------------------------------------

for i = 1, 10000 do
  local id = "warm-" .. i
  b:release(b:next(dests, id), id)
end
collectgarbage(); collectgarbage()
local r0, l0 = rss_kib(), collectgarbage("count")
local t0 = now_ns()
for i = 1, cycles do
  local id = "a-" .. i .. "-1c2d-4e5f-8a9b"
  b:release(b:next(dests, id), id)
end
collectgarbage(); collectgarbage()
local r1, l1 = rss_kib(), collectgarbage("count")
for i = 1, cycles do
  local id = "b-" .. i .. "-1c2d-4e5f-8a9b"
  b:release(b:next(dests, id), id)
end
collectgarbage(); collectgarbage()
local r2, l2 = rss_kib(), collectgarbage("count")
local secs = (now_ns() - t0) / 1e9
p("RSS and Lua heap (KiB) over %d + %d next+release cycles, distinct call ids (%.1f s), after a full Lua GC:\n",
  cycles, cycles, secs)
p("| | after warm-up | after %d | after %d | growth 1st | growth 2nd |", cycles, 2 * cycles)
p("|---|---:|---:|---:|---:|---:|")
p("| process RSS | %d | %d | %d | %+d | %+d |", r0, r1, r2, r1 - r0, r2 - r1)
p("| Lua heap | %.0f | %.0f | %.0f | %+.0f | %+.0f |", l0, l1, l2, l1 - l0, l2 - l1)
p("")
p("@floor_ns %.3f", floor.ns)
p("@noop_ns %.3f", mnoop.ns)
p("@method_ns %.3f", res.method.ns)
p("@nextrel_ns %.3f", nr)
p("@rss0_kib %d\n@rss1_kib %d\n@rss2_kib %d", r0, r1, r2)
print(table.concat(out, "\n"))
