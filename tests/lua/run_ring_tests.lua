-- Ring-group tests: lua/ringlb/ring.lua and the entry scripts, driven through
-- the scripted switch in fsmock.lua, against the real ringlb.so.
--
--   RINGLB_CPATH=build/lua5.3/?.so lua5.3 tests/lua/run_ring_tests.lua
--
-- Prints one line per test and a last line "N passed, M failed"; exits 1 on
-- any failure.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."

local cpath = os.getenv("RINGLB_CPATH")
if not cpath or cpath == "" then
	io.stderr:write("RINGLB_CPATH is not set (e.g. build/lua5.3/?.so)\n")
	os.exit(2)
end

-- The fresh build, and nothing else, must be what require finds.
local installed_cpath = package.cpath
package.cpath = cpath
package.path = root .. "/lua/?.lua;" .. here .. "/?.lua"
assert(package.loaded.ringlb == nil and package.preload.ringlb == nil, "ringlb is preloaded")
local function find_so(path)
	for tmpl in path:gmatch("[^;]+") do
		local p = (tmpl:gsub("%?", "ringlb"))
		local f = io.open(p, "rb")
		if f then
			f:close()
			return p
		end
	end
end
local fresh = find_so(cpath)
if not fresh then
	io.stderr:write("no ringlb.so in RINGLB_CPATH " .. cpath .. "\n")
	os.exit(2)
end
local shadow = find_so(installed_cpath)
if shadow then
	io.stdout:write("note: an installed " .. shadow .. " exists; it is not on the test cpath\n")
end
local ringlb = require "ringlb"
if package.searchpath then
	assert(package.searchpath("ringlb", package.cpath) == fresh, "require would load another ringlb.so")
end
io.stdout:write(string.format("testing %s %s from %s under %s\n", ringlb._NAME, ringlb._VERSION, fresh,
	jit and jit.version or _VERSION))

local fsmock = require "fsmock"

local function new_switch(globals)
	return fsmock.new({
		script_dir = root .. "/lua",
		path = root .. "/lua/?.lua",
		cpath = cpath,
		globals = globals or {},
	})
end

-- ring_in returns ring.lua and ringlb as a fresh state of sw sees them.
local function ring_in(sw)
	local env = sw:fresh_env()
	return env.require("ringlb.ring"), env.require("ringlb")
end

local nbal = 0
local function balancer(opts)
	nbal = nbal + 1
	local name = string.format("t%d_%d", nbal, os.time())
	local b = assert(ringlb.open(name, opts))
	return b, name
end

local function eq(got, want, what)
	if got ~= want then
		error(string.format("%s: got %s, want %s", what, tostring(got), tostring(want)), 2)
	end
end

local function ok(cond, what)
	if not cond then
		error(what, 2)
	end
end

local function load(b, d)
	return assert(b:load(d))
end

local M3 = { "user/1001", "user/1002", "user/1003" }

local tests = {}
local function test(name, f)
	tests[#tests + 1] = { name = name, f = f }
end

test("first member answers", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	sw:behave("user/1001", { answer = 2, talk = 30 })
	local during
	sw.on_bridge = function() during = load(b, "user/1001") end
	local a = sw:call()
	local dest, leg = ring.ring(a, M3, "balancing", { balancer = b, timeout = 20 })
	eq(dest, "user/1001", "answered")
	ok(type(leg) == "table" and leg:answered(), "leg returned")
	eq(during, 1, "load of user/1001 while talking")
	eq(load(b, "user/1001"), 0, "load after the call")
	eq(a:getVariable("continue_on_fail"), "true", "continue_on_fail")
	eq(a:getVariable("hangup_after_bridge"), "true", "hangup_after_bridge")
	eq(a:getVariable("ringlb_answered_dest"), "user/1001", "ringlb_answered_dest")
	ok(not a:ready(), "caller hung up when the bridge ended (hangup_after_bridge)")
	ok(not leg:ready(), "member leg hung up")
	eq(sw.originates, 1, "originates")
	ok(sw.last_dialstring:find("originate_timeout=20", 1, true), "originate_timeout in " .. sw.last_dialstring)
	sw:end_call(a)
	eq(load(b, "user/1001"), 0, "load after the hook")
end)

test("first does not answer, second does", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	sw:behave("user/1001", { no_answer = true })
	sw:behave("user/1002", { answer = 4, talk = 10 })
	local loads
	sw.on_bridge = function() loads = { load(b, "user/1001"), load(b, "user/1002") } end
	local a = sw:call()
	local dest = ring.ring(a, M3, "balancing", { balancer = b, timeout = 15 })
	eq(dest, "user/1002", "answered")
	eq(sw.legs[1].cause, "NO_ANSWER", "first leg")
	eq(sw.legs[1].at, 15, "first leg rang for the timeout")
	eq(loads[1], 0, "user/1001 released after its attempt")
	eq(loads[2], 1, "user/1002 held while talking")
	eq(load(b, "user/1002"), 0, "released after the bridge")
end)

test("busy member skipped", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer({ capacity = { ["user/1002"] = 1 } })
	assert(b:acquire("user/1002", "other-call"))
	sw:behave("user/1001", { busy = true })
	sw:behave("user/1003", { answer = 1, talk = 5 })
	local a = sw:call()
	local dest = ring.ring(a, M3, "sequential", { balancer = b })
	eq(dest, "user/1003", "answered")
	eq(#sw.legs, 2, "legs rung (user/1002 at capacity is not rung)")
	eq(sw.legs[1].dest, "user/1001", "first rung")
	eq(sw.legs[1].cause, "USER_BUSY", "busy")
	eq(load(b, "user/1001"), 0, "busy member released")
	eq(load(b, "user/1002"), 1, "other call's hold untouched")
	assert(b:release("user/1002", "other-call"))
end)

test("all fail", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	for _, d in ipairs(M3) do sw:behave(d, { busy = true }) end
	local a = sw:call()
	local dest, reason = ring.ring(a, M3, "balancing", { balancer = b })
	eq(dest, nil, "answered")
	eq(reason, "all_busy", "reason")
	eq(#sw.legs, 3, "every member tried")
	for _, d in ipairs(M3) do eq(load(b, d), 0, "load of " .. d) end
	ok(a:ready(), "a failed ring leaves the caller up")

	local sw2 = new_switch()
	local ring2 = ring_in(sw2)
	local a2 = sw2:call()
	local dest2, reason2, cause2 = ring2.ring(a2, { "user/2001", "user/2002" }, "sequential", { timeout = 5 })
	eq(dest2, nil, "answered")
	eq(reason2, "no_answer", "reason")
	eq(cause2, "NO_ANSWER", "detail")
	eq(sw2.t, 10, "two attempts of 5 s")
	local dest3, reason3 = ring2.ring(a2, { "user/2001" }, "parallel", { timeout = 5 })
	eq(reason3, "no_answer", "parallel without balancer")

	local b4 = balancer({ capacity = 1 })
	for _, d in ipairs(M3) do assert(b4:acquire(d, "busy-" .. d)) end
	local a4 = sw2:call()
	local n = sw2.originates
	local _, reason4 = ring2.ring(a4, M3, "balancing", { balancer = b4 })
	eq(reason4, "all_busy", "all at capacity")
	eq(sw2.originates, n, "nothing rung")
	local _, reason5 = ring2.ring(a4, M3, "parallel", { balancer = b4 })
	eq(reason5, "all_busy", "parallel, all at capacity")
	for _, d in ipairs(M3) do eq(load(b4, d), 1, "other holds of " .. d) end
end)

test("caller hangs up mid-ring", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	sw:behave("user/1002", { answer = 1 })
	local ringing
	sw:behave("user/1001", { answer = 25, on_ring = function() ringing = load(b, "user/1001") end })
	local a = sw:call({ hangup_at = 7 })
	local dest, reason = ring.ring(a, M3, "balancing", { balancer = b, timeout = 30 })
	eq(dest, nil, "answered")
	eq(reason, "caller_gone", "reason")
	eq(ringing, 1, "held while ringing")
	eq(sw.t, 7, "stopped when the caller hung up")
	eq(sw.originates, 1, "no further attempt")
	eq(sw.legs[1].cause, "ORIGINATOR_CANCEL", "leg cancelled")
	eq(load(b, "user/1001"), 0, "released")
	sw:end_call(a)
	eq(load(b, "user/1001"), 0, "still released after the hook")
end)

test("script error after a hold: the hook releases it", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b, name = balancer()
	sw:behave("user/1001", { answer = 1, bridge_error = "boom" })
	local a = sw:call()
	local okc, err = pcall(ring.ring, a, M3, "balancing", { balancer = b })
	ok(not okc and tostring(err):find("boom"), "the error propagates: " .. tostring(err))
	eq(load(b, "user/1001"), 1, "hold left by the dead script")
	eq(a:getVariable("api_hangup_hook"), "lua ringlb_release.lua " .. name .. " " .. a:get_uuid() .. " user/1001", "hook")
	-- The release script opens the balancer by name: its options come from
	-- global variables, and this one was opened with none.
	sw:end_call(a)
	eq(#sw.hooks_run, 1, "hook ran")
	eq(load(b, "user/1001"), 0, "released by the hook in a fresh state")
end)

test("an operator's api_hangup_hook is kept: the release hook moves to api_reporting_hook", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b, name = balancer()
	sw:behave("user/1001", { answer = 1, bridge_error = "boom" })
	sw:behave("user/1002", { answer = 1 })
	local a = sw:call()
	a:setVariable("api_hangup_hook", "lua my_cdr.lua ${uuid}")
	local okc = pcall(ring.ring, a, M3, "balancing", { balancer = b })
	ok(not okc, "the script died")
	eq(a:getVariable("api_hangup_hook"), "lua my_cdr.lua ${uuid}", "operator's hook untouched")
	eq(a:getVariable("api_reporting_hook"), "lua ringlb_release.lua " .. name .. " " .. a:get_uuid() .. " user/1001", "release hook")
	sw:end_call(a)
	eq(load(b, "user/1001"), 0, "released by the reporting hook")
	ok(sw.hooks_run[1]:find("^lua my_cdr.lua "), "operator's hook ran first: " .. tostring(sw.hooks_run[1]))

	-- Both hooks taken: ringlb sets neither and says so; the bridge path
	-- still releases.
	local a2 = sw:call()
	a2:setVariable("api_hangup_hook", "lua my_cdr.lua")
	a2:setVariable("api_reporting_hook", "lua my_report.lua")
	local dest = ring.ring(a2, { "user/1002" }, "balancing", { balancer = b })
	eq(dest, "user/1002", "answered")
	eq(a2:getVariable("api_hangup_hook"), "lua my_cdr.lua", "hangup hook untouched")
	eq(a2:getVariable("api_reporting_hook"), "lua my_report.lua", "reporting hook untouched")
	ok(sw:logged("both in use"), "warned")
	eq(load(b, "user/1002"), 0, "released after the bridge")
end)

test("two groups share members through one balancer", function()
	-- Options from global variables, as ringlb_ring.lua and the hook read them.
	local sw = new_switch({ ringlb_tie = "list" })
	local ring = ring_in(sw)
	local b = assert(ring.open("shared_" .. os.time()))
	sw:behave("user/1001", { answer = 1, talk = 100 })
	sw:behave("user/1002", { answer = 1, talk = 10 })
	sw:behave("user/1003", { answer = 1, talk = 10 })
	local second
	sw.on_bridge = function(s, a1)
		if second then return end
		second = {}
		-- a second call, to group B, arrives while the first is talking
		local ring_b = ring_in(sw)
		local a2 = sw:call()
		second.dest = ring_b.ring(a2, { "user/1001", "user/1002" }, "balancing", { balancer = b, bridge = false })
		second.a = a2
		second.loads = b:loads(M3)
	end
	local a = sw:call()
	local dest = ring.ring(a, { "user/1001", "user/1003" }, "balancing", { balancer = b })
	eq(dest, "user/1001", "group A")
	eq(second.dest, "user/1002", "group B skips the busy shared member")
	eq(second.loads["user/1001"], 1, "shared member counted")
	eq(second.loads["user/1002"], 1, "group B's answer held (bridge = false)")
	eq(load(b, "user/1001"), 0, "group A released")
	eq(load(b, "user/1002"), 1, "group B still held until its caller hangs up")
	sw:end_call(second.a)
	eq(load(b, "user/1002"), 0, "group B released by its hook")
end)

test("parallel: winner held, losers cleaned", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	local ringing
	sw:behave("user/1001", { answer = 5, on_ring = function() ringing = b:loads(M3) end })
	sw:behave("user/1002", { answer = 3, talk = 20 })
	sw:behave("user/1003", { no_answer = true })
	local talking
	sw.on_bridge = function() talking = b:loads(M3) end
	local a = sw:call()
	local dest = ring.ring(a, M3, "parallel", { balancer = b, timeout = 30 })
	eq(dest, "user/1002", "fastest answer wins")
	eq(sw.originates, 1, "one originate")
	ok(sw.last_dialstring:find("user/1001,", 1, true), "legs joined with ',': " .. sw.last_dialstring)
	for _, d in ipairs(M3) do eq(ringing[d], 1, "ringing counts as load: " .. d) end
	eq(talking["user/1002"], 1, "winner held")
	eq(talking["user/1001"], 0, "loser released")
	eq(talking["user/1003"], 0, "loser released")
	for _, l in ipairs(sw.legs) do
		if l.dest ~= "user/1002" then eq(l.cause, "LOSE_RACE", "loser leg " .. l.dest) end
	end
	for _, d in ipairs(M3) do eq(load(b, d), 0, "after the call: " .. d) end

	-- members at capacity are left out
	local b2 = balancer({ capacity = { ["user/1003"] = 1 } })
	assert(b2:acquire("user/1003", "elsewhere"))
	sw:behave("user/1001", { answer = 2 })
	local a2 = sw:call()
	local n = #sw.legs
	eq(ring.ring(a2, M3, "parallel", { balancer = b2 }), "user/1001", "answered")
	eq(#sw.legs - n, 2, "user/1003 not rung")
	eq(load(b2, "user/1003"), 1, "other call's hold untouched")
end)

test("backend error falls back to list order", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local msg = "ringlb: redis: dial tcp 127.0.0.1:1: connect: connection refused"
	local down = ringlb.open("down_" .. os.time(), { url = "redis://127.0.0.1:1", timeout = 0.05 })
	local kind = "real Redis balancer on a closed port"
	if not down or down:load("user/1001") then
		kind = "fake balancer"
		down = {
			name = function() return "fake_down" end,
			next = function() return nil, msg, "backend" end,
			acquire = function() return nil, msg, "backend" end,
			release = function() return nil, msg, "backend" end,
		}
	end
	sw:behave("user/1001", { no_answer = true })
	sw:behave("user/1002", { answer = 2, talk = 5 })
	local a = sw:call()
	local dest = ring.ring(a, M3, "balancing", { balancer = down, timeout = 10 })
	io.stdout:write("     (backend error from a " .. kind .. ")\n")
	eq(dest, "user/1002", "list order after the backend error (" .. kind .. ")")
	eq(sw.legs[1].dest, "user/1001", "first in list order")
	ok(sw:logged("ringing in list order"), "logged through consoleLog")

	local a2 = sw:call()
	local n = sw.originates
	local dest2, reason, detail = ring.ring(a2, M3, "balancing", { balancer = down, on_backend_error = "fail" })
	eq(dest2, nil, "fail policy")
	eq(reason, "backend_error", "reason")
	ok(type(detail) == "string" and detail:find("ringlb: "), "detail " .. tostring(detail))
	eq(sw.originates, n, "nothing rung")
	local a3 = sw:call()
	sw:behave("user/1001", { answer = 1 })
	eq(ring.ring(a3, M3, "parallel", { balancer = down }), "user/1001", "parallel falls back too")
end)

test("hold released exactly when the bridge ends", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	sw:behave("user/1001", { answer = 3, talk = 42 })
	local at_end
	sw.on_bridge_end = function() at_end = load(b, "user/1001") end
	local a = sw:call()
	eq(ring.ring(a, M3, "sequential", { balancer = b }), "user/1001", "answered")
	eq(at_end, 1, "held through the whole bridge")
	eq(sw.bridges[1].stop, 45, "bridge end")
	eq(sw.t, 45, "released with no time passing after the bridge")
	eq(load(b, "user/1001"), 0, "released when the bridge returned")
	eq(a:getVariable("api_hangup_hook"), nil, "hook cleared once nothing is held")
	sw:end_call(a)
	eq(#sw.hooks_run, 0, "no hook left to run")
end)

test("caller hangs up during the bridge", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	sw:behave("user/1001", { answer = 1, talk = 100 })
	local a = sw:call({ hangup_at = 30 })
	eq(ring.ring(a, M3, "balancing", { balancer = b }), "user/1001", "answered")
	eq(sw.t, 30, "bridge ended by the caller")
	eq(load(b, "user/1001"), 0, "released")
end)

test("invalid arguments", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local a = sw:call()
	local cases = {
		{ M3, "bogus", {} },
		{ {}, "parallel", {} },
		{ M3, "balancing", {} },
		{ { "user/1001", 5 }, "parallel", {} },
		{ { "user/10 01" }, "parallel", {} },
		{ M3, "parallel", { timeout = 0 } },
		{ M3, "parallel", { on_backend_error = "ignore" } },
		{ { "user/1001,user/1002" }, "parallel", {} },
	}
	for i, c in ipairs(cases) do
		local d, reason, detail = ring.ring(a, c[1], c[2], c[3])
		eq(d, nil, "case " .. i)
		eq(reason, "invalid", "case " .. i .. " (" .. tostring(detail) .. ")")
	end
	eq(#sw.legs, 0, "nothing rung")
end)

test("entry script ringlb_ring.lua and status script", function()
	local sw = new_switch({ ringlb_tie = "list" })
	local name = "entry_" .. os.time()
	sw:behave("user/1001", { no_answer = true })
	sw:behave("user/1002", { answer = 2, talk = 10, on_ring = function(s)
		local out = s:api("lua", "ringlb_admin.lua status " .. name)
		ok(out:find("user/1002%s+1"), "status shows the ringing hold:\n" .. out)
	end })
	local a = sw:call()
	local okr, err = sw:run_script("ringlb_ring.lua", { "balancing", name, "user/1001,user/1002,user/1003", "12" }, a)
	ok(okr, "script ran: " .. tostring(err))
	eq(a:getVariable("ringlb_result"), "answered", "ringlb_result")
	eq(a:getVariable("ringlb_result_detail"), "user/1002", "answered member")
	ok(sw.last_dialstring:find("originate_timeout=12", 1, true), "timeout argument used")
	sw:end_call(a)
	local out = sw:api("lua", "ringlb_admin.lua status " .. name)
	ok(out:find("balancer " .. name, 1, true) and out:find("0 active calls", 1, true), "status after:\n" .. out)

	-- arguments from channel variables
	local a2 = sw:call({ vars = { ringlb_mode = "parallel", ringlb_group = name, ringlb_members = "user/1003" } })
	sw:behave("user/1003", { busy = true })
	ok(sw:run_script("ringlb_ring.lua", {}, a2), "script ran")
	eq(a2:getVariable("ringlb_result"), "all_busy", "result from channel variables")
	local a3 = sw:call()
	ok(sw:run_script("ringlb_ring.lua", { "balancing" }, a3), "script ran")
	eq(a3:getVariable("ringlb_result"), "invalid", "missing arguments")
end)

local passed, failed = 0, 0
for _, t in ipairs(tests) do
	local okt, err = pcall(t.f)
	if okt then
		passed = passed + 1
		io.stdout:write("ok   " .. t.name .. "\n")
	else
		failed = failed + 1
		io.stdout:write("FAIL " .. t.name .. ": " .. tostring(err) .. "\n")
	end
end
io.stdout:write(string.format("%d passed, %d failed\n", passed, failed))
os.exit(failed == 0 and 0 or 1)
