-- demo.lua SO_DIR - a small simulated call centre: calls arriving at three
-- ring groups that share agents, each one rung through the real ring-group
-- helper (lua/ringlb/ring.lua, ring.ring) and the real ringlb.so built for
-- this interpreter, once in "balancing" and once in "sequential" mode.
--
--   lua5.3 demo/demo.lua build/lua5.3        (what `make demo` runs)
--
-- FreeSWITCH cannot run here, so the switch is simulated: the demo loads the
-- scripted FreeSWITCH stand-in of the tests (tests/ring/fsmock.lua, a test
-- double that never ships) and drives it on its virtual clock, so a day of
-- calls takes a fraction of a second and nothing sleeps. Everything else -
-- dial strings, holds, the balancer's choices, releases - is the code an
-- operator installs.
--
-- The model, an event loop in virtual time:
--   * Arrivals, talk times and each agent's reaction to each call are drawn
--     once from a small LCG (exact in doubles and in integers, so every Lua
--     version sees the same numbers) and reused for every mode.
--   * Releases due before an arrival are processed first, in time order: the
--     clock is set to the end of the call, ring.release drops the hold and
--     the caller hangs up (the switch would run the api_hangup_hook now; it
--     must be empty, as the hold is gone).
--   * Then the clock is set to the arrival time, the caller's A-leg is made,
--     every agent is scripted for this ring (on a call: rejects with
--     USER_BUSY; otherwise answers after a few seconds, or, with a per-agent
--     chance, lets it ring until the 20 s timeout), and ring.ring rings the
--     group with bridge = false, so the answered agent stays held. The call
--     ends (release) at answer time + talk time.
--   * balancing: one balancer shared by all groups, capacity 1 per agent
--     (an agent takes one call at a time), least loaded first, lru ties.
--     sequential: list order, with a balancer of unlimited capacity that
--     only counts the calls, so busy agents are rung and reject.
--   * A call is rung as a whole when it arrives; calls arriving during
--     another call's ringing see that call's outcome already.
local so_dir = arg[1] or "build/lua5.3"
local here = (arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/.."

local so = so_dir .. "/ringlb.so"
local f = io.open(so, "rb")
if not f then
	io.stderr:write("demo: no " .. so .. " (build it: ./build.sh 5.3, or make demo)\n")
	os.exit(2)
end
f:close()
-- The fresh build and the repository's scripts, nothing installed.
package.cpath = so_dir .. "/?.so"
package.path = root .. "/lua/?.lua;" .. root .. "/tests/ring/?.lua"

local ringlb = require "ringlb"
local ring = require "ringlb.ring"
local fsmock = require "fsmock" -- the simulated switch (see the top)

----------------------------------------------------------------------------
-- Deterministic numbers: Park-Miller minimal standard LCG. Every product is
-- below 2^46, exact as a double (5.1, LuaJIT) and as an integer (5.3+).
local seed = 20261124
local function rnd()
	seed = (seed * 16807) % 2147483647
	return seed / 2147483647
end
local function exp(mean) return -mean * math.log(1 - rnd()) end

local agents = { "user/1001", "user/1002", "user/1003", "user/1004", "user/1005", "user/1006" }
local group_names = { "sales", "support", "billing" }
local groups = {
	sales   = { "user/1001", "user/1002", "user/1003" },
	support = { "user/1002", "user/1003", "user/1004", "user/1005" },
	billing = { "user/1005", "user/1006", "user/1001" },
}
-- Chance that an agent who is free lets a call ring out (away, on a break).
local away = {
	["user/1001"] = 0.05, ["user/1002"] = 0.10, ["user/1003"] = 0.30,
	["user/1004"] = 0.05, ["user/1005"] = 0.15, ["user/1006"] = 0.10,
}
local NCALLS, GAP, TALK, TIMEOUT = 400, 40, 100, 20

-- The calls, and how every agent would react to each of them if free.
local calls, t = {}, 0
for i = 1, NCALLS do
	t = t + exp(GAP)
	local r = rnd()
	local c = { at = t, talk = 10 + exp(TALK - 10), n = i,
		group = group_names[r < 0.4 and 1 or r < 0.8 and 2 or 3], react = {} }
	for _, a in ipairs(agents) do
		if rnd() < away[a] then
			c.react[a] = { no_answer = true }
		else
			c.react[a] = { answer = 2 + math.floor(rnd() * 7) } -- 2..8 s
		end
	end
	calls[i] = c
end

----------------------------------------------------------------------------
-- One run of all the calls in one mode.

local function run(mode, tie)
	local sw = fsmock.new({ script_dir = root .. "/lua", path = package.path, cpath = package.cpath })
	freeswitch = sw.freeswitch -- what mod_lua gives a script; ring.lua uses it
	local name = "demo-" .. mode .. "-" .. (tie or "lru")
	local b = assert(ringlb.open(name, {
		capacity = mode == "balancing" and 1 or nil,
		tie = tie,
	}))
	local st = { answered = {}, peak = {}, busy = {}, rang_out = {}, active = {},
		unanswered = 0, all_busy = 0, ok = 0, wait = 0, sys_peak = 0 }
	for _, a in ipairs(agents) do
		st.answered[a], st.peak[a], st.busy[a], st.rang_out[a], st.active[a] = 0, 0, 0, 0, 0
	end
	local nactive, ending = 0, {}

	local function check_loads(when)
		for _, a in ipairs(agents) do
			local l = assert(b:load(a))
			if l ~= st.active[a] then
				error(string.format("%s %s: %s has load %s but %d calls", mode, when, a, tostring(l), st.active[a]))
			end
		end
	end

	local function finish(e)
		sw.t = e.at
		assert(ring.release(e.session, b, e.dest))
		sw:end_call(e.session) -- the caller hangs up; the hook must be empty
		assert(#sw.hooks_run == 0, "a hangup hook ran: " .. tostring(sw.hooks_run[1]))
		st.active[e.dest] = st.active[e.dest] - 1
		nactive = nactive - 1
	end

	local function release_until(now)
		table.sort(ending, function(x, y)
			if x.at ~= y.at then return x.at > y.at end
			return x.n > y.n
		end)
		while #ending > 0 and ending[#ending].at <= now do
			finish(table.remove(ending))
		end
	end

	for _, c in ipairs(calls) do
		release_until(c.at)
		check_loads("before call " .. c.n)
		sw.t = c.at
		local a = sw:call({ uuid = string.format("call-%04d", c.n) })
		for _, ag in ipairs(agents) do
			if st.active[ag] > 0 then
				sw:behave(ag, { busy = true })
			else
				sw:behave(ag, c.react[ag])
			end
		end
		local nlegs = #sw.legs
		local dest, leg_or_reason, detail = ring.ring(a, groups[c.group], mode,
			{ balancer = b, bridge = false, timeout = TIMEOUT })
		for i = nlegs + 1, #sw.legs do
			local l = sw.legs[i]
			if l.cause == "USER_BUSY" then
				st.busy[l.dest] = st.busy[l.dest] + 1
			elseif l.cause == "NO_ANSWER" then
				st.rang_out[l.dest] = st.rang_out[l.dest] + 1
			end
		end
		if dest then
			st.ok = st.ok + 1
			st.wait = st.wait + (sw.t - c.at)
			st.answered[dest] = st.answered[dest] + 1
			st.active[dest] = st.active[dest] + 1
			nactive = nactive + 1
			if st.active[dest] > st.peak[dest] then st.peak[dest] = st.active[dest] end
			if nactive > st.sys_peak then st.sys_peak = nactive end
			ending[#ending + 1] = { at = sw.t + c.talk, n = c.n, session = a, dest = dest }
		else
			if leg_or_reason == "all_busy" then
				st.all_busy = st.all_busy + 1
			elseif leg_or_reason == "no_answer" then
				st.unanswered = st.unanswered + 1
			else
				error(string.format("%s call %d: %s %s", mode, c.n, tostring(leg_or_reason), tostring(detail)))
			end
			sw:end_call(a) -- the caller gives up; nothing may be left held
			assert(#sw.hooks_run == 0, "a hangup hook ran: " .. tostring(sw.hooks_run[1]))
		end
		check_loads("after call " .. c.n)
	end
	release_until(math.huge)
	for _, a in ipairs(agents) do
		if b:load(a) ~= 0 then
			error(string.format("%s: %s still has load %s at the end: a hold leaked", name, a, tostring(b:load(a))))
		end
		if st.peak[a] > 1 then
			error(string.format("%s: %s had %d calls at once", name, a, st.peak[a]))
		end
	end
	st.end_time = sw.t
	return st
end

local bal = run("balancing")
local seq = run("sequential")
local list = run("balancing", "list")

----------------------------------------------------------------------------
-- Report

local function p(...) print(string.format(...)) end
local function short(a) return (a:gsub("^user/", "")) end

p("ringlb %s on %s: a simulated call centre, %d calls, through ring.ring and %s",
	ringlb._VERSION, jit and jit.version or _VERSION, NCALLS, so)
p("(FreeSWITCH is simulated by tests/ring/fsmock.lua on a virtual clock)")
p("")
for _, g in ipairs(group_names) do
	local m = {}
	for i, a in ipairs(groups[g]) do m[i] = short(a) end
	p("  %-8s= %s", g, table.concat(m, " "))
end
local aw = {}
for i, a in ipairs(agents) do aw[i] = string.format("%s %d%%", short(a), math.floor(away[a] * 100 + 0.5)) end
p("  a call every %d s on average (40%% sales, 40%% support, 20%% billing), %d s talk on average;", GAP, TALK)
p("  agents take one call at a time and answer a free call in 2-8 s, but let it ring out")
p("  (%d s, then the next member) with a chance of: %s", TIMEOUT, table.concat(aw, ", "))
p("  balancing: least loaded member first (capacity 1, lru ties); sequential: list order,")
p("  agents on a call are rung anyway and reject it (busy). Same calls in both modes.")
p("")
p("| agent | answered (balancing) | answered (sequential) | peak calls (bal/seq) | busy rejections (bal/seq) | rang out (bal/seq) |")
p("|-------|---------------------:|----------------------:|---------------------:|--------------------------:|-------------------:|")
for _, a in ipairs(agents) do
	p("| %s  | %20d | %21d | %20s | %25s | %18s |", short(a), bal.answered[a], seq.answered[a],
		bal.peak[a] .. " / " .. seq.peak[a], bal.busy[a] .. " / " .. seq.busy[a],
		bal.rang_out[a] .. " / " .. seq.rang_out[a])
end
local function spread(st)
	local lo, hi = math.huge, 0
	for _, a in ipairs(agents) do lo = math.min(lo, st.answered[a]); hi = math.max(hi, st.answered[a]) end
	return hi, lo
end
local function sum(t)
	local s = 0
	for _, a in ipairs(agents) do s = s + t[a] end
	return s
end
p("")
p("| totals | balancing | sequential |")
p("|--------|----------:|-----------:|")
p("| answered | %d | %d |", bal.ok, seq.ok)
p("| unanswered (rang out) | %d | %d |", bal.unanswered, seq.unanswered)
p("| all busy (no one free) | %d | %d |", bal.all_busy, seq.all_busy)
p("| busy rejections | %d | %d |", sum(bal.busy), sum(seq.busy))
p("| mean ring time to answer | %.1f s | %.1f s |", bal.wait / bal.ok, seq.wait / seq.ok)
p("| most/least answered per agent | %d/%d | %d/%d |", select(1, spread(bal)), select(2, spread(bal)),
	select(1, spread(seq)), select(2, spread(seq)))
p("| peak calls at once (all agents) | %d | %d |", bal.sys_peak, seq.sys_peak)
p("")
local same = true
for _, a in ipairs(agents) do
	if list.answered[a] ~= seq.answered[a] then same = false end
end
p("Peak calls per agent is 1 in both modes: balancing never offers a busy agent a")
p("call (capacity 1) and in sequential a busy agent rejects it. With one call per")
p("agent, what spreads the calls is the tie-break among free agents: balancing with")
p("list ties (genesis's) answers %s sequential (%s).", same and "exactly as" or "unlike",
	(function()
		local m = {}
		for i, a in ipairs(agents) do m[i] = short(a) .. ":" .. list.answered[a] end
		return table.concat(m, " ")
	end)())
p("All holds were released: every agent's load is 0 at the end of every run.")
