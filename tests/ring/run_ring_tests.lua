-- Ring-group tests: lua/ringlb/ring.lua and the entry scripts, driven through
-- the scripted switch in fsmock.lua, against the real ringlb.so.
--
--   lua5.3 tests/ring/run_ring_tests.lua build/lua5.3
--
-- Prints one line per test and a last line "N passed, M failed"; exits 1 on
-- any failure.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."
package.path = here .. "/../?.lua;" .. package.path
local T = require "testlib"
local ringlb, fresh = T.load_ringlb(arg[1])
local cpath = arg[1] .. "/?.so"
package.path = root .. "/lua/?.lua;" .. here .. "/?.lua"
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

local eq, ok = T.eq, T.ok

local function load(b, d)
	return assert(b:load(d))
end

local M3 = { "user/1001", "user/1002", "user/1003" }

-- ring_max is the most members one ring may have.
local ring_max = 128

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
	eq("user/1001", dest, "answered")
	ok(type(leg) == "table" and leg:answered(), "leg returned")
	eq(1, during, "load of user/1001 while talking")
	eq(0, load(b, "user/1001"), "load after the call")
	eq("true", a:getVariable("continue_on_fail"), "continue_on_fail")
	eq("true", a:getVariable("hangup_after_bridge"), "hangup_after_bridge")
	eq("user/1001", a:getVariable("ringlb_answered_dest"), "ringlb_answered_dest")
	ok(not a:ready(), "caller hung up when the bridge ended (hangup_after_bridge)")
	ok(not leg:ready(), "member leg hung up")
	eq(1, sw.originates, "originates")
	ok(sw.last_dialstring:find("originate_timeout=20", 1, true), "originate_timeout in " .. sw.last_dialstring)
	sw:end_call(a)
	eq(0, load(b, "user/1001"), "load after the hook")
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
	eq("user/1002", dest, "answered")
	eq("NO_ANSWER", sw.legs[1].cause, "first leg")
	eq(15, sw.legs[1].at, "first leg rang for the timeout")
	eq(0, loads[1], "user/1001 released after its attempt")
	eq(1, loads[2], "user/1002 held while talking")
	eq(0, load(b, "user/1002"), "released after the bridge")
end)

test("events: ringlb::info follows a ring for ESL consumers", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	sw:behave("user/1001", { no_answer = true })
	sw:behave("user/1002", { answer = 2, talk = 5 })
	local a = sw:call()
	eq("user/1002", (ring.ring(a, M3, "balancing", { balancer = b, timeout = 10 })), "answered")
	local seen = {}
	for _, e in ipairs(sw.events) do
		eq("CUSTOM", e.type, "event type")
		eq("ringlb::info", e.subclass, "subclass")
		eq(a:get_uuid(), e.headers["Ringlb-Call-UUID"], "call uuid")
		eq(b:name(), e.headers["Ringlb-Balancer"], "balancer")
		seen[#seen + 1] = e.headers["Ringlb-Action"] .. ":" ..
			(e.headers["Ringlb-Member"] or e.headers["Ringlb-Members"] or "") .. ":" ..
			(e.headers["Ringlb-Reason"] or e.headers["Ringlb-Result"] or "")
	end
	eq("ring-start:user/1001,user/1002,user/1003: attempt:user/1001: attempt-failed:user/1001:NO_ANSWER " ..
		"attempt:user/1002: answered:user/1002: ring-end:user/1002:answered", table.concat(seen, " "), "events")
	-- Off by a global variable.
	local quiet = new_switch({ ringlb_events = "false" })
	local ring2 = ring_in(quiet)
	quiet:behave("user/1001", { answer = 1, talk = 1 })
	ring2.ring(quiet:call(), { "user/1001" }, "sequential", {})
	eq(0, #quiet.events, "no events with ringlb_events=false")
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
	eq("user/1003", dest, "answered")
	eq(2, #sw.legs, "legs rung (user/1002 at capacity is not rung)")
	eq("user/1001", sw.legs[1].dest, "first rung")
	eq("USER_BUSY", sw.legs[1].cause, "busy")
	eq(0, load(b, "user/1001"), "busy member released")
	eq(1, load(b, "user/1002"), "other call's hold untouched")
	assert(b:release("user/1002", "other-call"))
end)

test("all fail", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	for _, d in ipairs(M3) do sw:behave(d, { busy = true }) end
	local a = sw:call()
	local dest, reason = ring.ring(a, M3, "balancing", { balancer = b })
	eq(nil, dest, "answered")
	eq("all_busy", reason, "reason")
	eq(3, #sw.legs, "every member tried")
	for _, d in ipairs(M3) do eq(0, load(b, d), "load of " .. d) end
	ok(a:ready(), "a failed ring leaves the caller up")

	local sw2 = new_switch()
	local ring2 = ring_in(sw2)
	local a2 = sw2:call()
	local dest2, reason2, cause2 = ring2.ring(a2, { "user/2001", "user/2002" }, "sequential", { timeout = 5 })
	eq(nil, dest2, "answered")
	eq("no_answer", reason2, "reason")
	eq("NO_ANSWER", cause2, "detail")
	eq(10, sw2.t, "two attempts of 5 s")
	local dest3, reason3 = ring2.ring(a2, { "user/2001" }, "parallel", { timeout = 5 })
	eq("no_answer", reason3, "parallel without balancer")

	local b4 = balancer({ capacity = 1 })
	for _, d in ipairs(M3) do assert(b4:acquire(d, "busy-" .. d)) end
	local a4 = sw2:call()
	local n = sw2.originates
	local _, reason4 = ring2.ring(a4, M3, "balancing", { balancer = b4 })
	eq("all_busy", reason4, "all at capacity")
	eq(n, sw2.originates, "nothing rung")
	local _, reason5 = ring2.ring(a4, M3, "parallel", { balancer = b4 })
	eq("all_busy", reason5, "parallel, all at capacity")
	for _, d in ipairs(M3) do eq(1, load(b4, d), "other holds of " .. d) end
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
	eq(nil, dest, "answered")
	eq("caller_gone", reason, "reason")
	eq(1, ringing, "held while ringing")
	eq(7, sw.t, "stopped when the caller hung up")
	eq(1, sw.originates, "no further attempt")
	eq("ORIGINATOR_CANCEL", sw.legs[1].cause, "leg cancelled")
	eq(0, load(b, "user/1001"), "released")
	sw:end_call(a)
	eq(0, load(b, "user/1001"), "still released after the hook")
end)

test("script error after a hold: the hook releases it", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b, name = balancer()
	sw:behave("user/1001", { answer = 1, bridge_error = "boom" })
	local a = sw:call()
	local okc, err = pcall(ring.ring, a, M3, "balancing", { balancer = b })
	ok(not okc and tostring(err):find("boom"), "the error propagates: " .. tostring(err))
	eq(1, load(b, "user/1001"), "hold left by the dead script")
	eq("lua ringlb_release.lua " .. name .. " " .. a:get_uuid() .. " user/1001", a:getVariable("api_hangup_hook"), "hook")
	-- The release script opens the balancer by name: its options come from
	-- global variables, and this one was opened with none.
	sw:end_call(a)
	eq(1, #sw.hooks_run, "hook ran")
	eq(0, load(b, "user/1001"), "released by the hook in a fresh state")
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
	eq("lua my_cdr.lua ${uuid}", a:getVariable("api_hangup_hook"), "operator's hook untouched")
	eq("lua ringlb_release.lua " .. name .. " " .. a:get_uuid() .. " user/1001", a:getVariable("api_reporting_hook"), "release hook")
	sw:end_call(a)
	eq(0, load(b, "user/1001"), "released by the reporting hook")
	ok(sw.hooks_run[1]:find("^lua my_cdr.lua "), "operator's hook ran first: " .. tostring(sw.hooks_run[1]))

	-- Both hooks taken: ringlb sets neither and says so; the bridge path
	-- still releases.
	local a2 = sw:call()
	a2:setVariable("api_hangup_hook", "lua my_cdr.lua")
	a2:setVariable("api_reporting_hook", "lua my_report.lua")
	local dest = ring.ring(a2, { "user/1002" }, "balancing", { balancer = b })
	eq("user/1002", dest, "answered")
	eq("lua my_cdr.lua", a2:getVariable("api_hangup_hook"), "hangup hook untouched")
	eq("lua my_report.lua", a2:getVariable("api_reporting_hook"), "reporting hook untouched")
	ok(sw:logged("both in use"), "warned")
	eq(0, load(b, "user/1002"), "released after the bridge")
end)

-- Regression: the switch cuts a hangup hook command at its first ':' when a
-- second follows (api_hook), so a member "sofia/gateway/gw::1" made the
-- release hook run the API command "lua ringlb_release.lua ... gw", which
-- does not exist, and the hold lived until max_hold_age.
test("a member whose first ':' starts \"::\" is refused: the switch would cut the release hook", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b, name = balancer()
	-- What the switch does with such a hook: it runs nothing.
	local a0 = sw:call()
	assert(b:acquire("sofia/gateway/gw::1", a0:get_uuid()))
	a0:setVariable("api_hangup_hook", "lua ringlb_release.lua " .. name .. " " .. a0:get_uuid() .. " sofia/gateway/gw::1")
	sw:end_call(a0)
	eq("lua ringlb_release.lua " .. name .. " " .. a0:get_uuid() .. " sofia/gateway/gw 1", sw.hooks_run[1], "the switch's split")
	eq(1, load(b, "sofia/gateway/gw::1"), "the hold survives the hook")
	assert(b:release("sofia/gateway/gw::1", a0:get_uuid()))
	-- So a ring refuses the member before it rings or holds anything.
	local a = sw:call()
	local d, reason, detail = ring.ring(a, { "user/1001", "sofia/gateway/gw::1" }, "parallel", { balancer = b })
	eq(nil, d, "no answer")
	eq("invalid", reason, "reason (" .. tostring(detail) .. ")")
	ok(tostring(detail):find("::", 1, true), "the detail names the \"::\": " .. tostring(detail))
	eq(0, #sw.legs, "nothing rung")
	eq(0, load(b, "user/1001"), "nothing held")
	-- A "::" after an earlier ':' (an IPv6 SIP URI) leaves the hook whole.
	local v6 = "sofia/internal/sip:1000@2001:db8::1"
	sw:behave(v6, { answer = 1, bridge_error = "boom" })
	local a2 = sw:call()
	ok(not pcall(ring.ring, a2, { v6 }, "balancing", { balancer = b }), "the script died")
	eq(1, load(b, v6), "hold left by the dead script")
	sw:end_call(a2)
	eq("lua ringlb_release.lua " .. name .. " " .. a2:get_uuid() .. " " .. v6, sw.hooks_run[2], "hook whole")
	eq(0, load(b, v6), "released by the hook")
	-- A balancer name with "::" never opens, so it never reaches a hook.
	local nb, err, code = ring.open("sales::eu")
	eq(nil, nb, "no balancer")
	eq("invalid", code, "code (" .. tostring(err) .. ")")
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
	eq("user/1001", dest, "group A")
	eq("user/1002", second.dest, "group B skips the busy shared member")
	eq(1, second.loads["user/1001"], "shared member counted")
	eq(1, second.loads["user/1002"], "group B's answer held (bridge = false)")
	eq(0, load(b, "user/1001"), "group A released")
	eq(1, load(b, "user/1002"), "group B still held until its caller hangs up")
	sw:end_call(second.a)
	eq(0, load(b, "user/1002"), "group B released by its hook")
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
	eq("user/1002", dest, "fastest answer wins")
	eq(1, sw.originates, "one originate")
	ok(sw.last_dialstring:find("user/1001,", 1, true), "legs joined with ',': " .. sw.last_dialstring)
	for _, d in ipairs(M3) do eq(1, ringing[d], "ringing counts as load: " .. d) end
	eq(1, talking["user/1002"], "winner held")
	eq(0, talking["user/1001"], "loser released")
	eq(0, talking["user/1003"], "loser released")
	for _, l in ipairs(sw.legs) do
		if l.dest ~= "user/1002" then eq("LOSE_RACE", l.cause, "loser leg " .. l.dest) end
	end
	for _, d in ipairs(M3) do eq(0, load(b, d), "after the call: " .. d) end

	-- members at capacity are left out
	local b2 = balancer({ capacity = { ["user/1003"] = 1 } })
	assert(b2:acquire("user/1003", "elsewhere"))
	sw:behave("user/1001", { answer = 2 })
	local a2 = sw:call()
	local n = #sw.legs
	eq("user/1001", ring.ring(a2, M3, "parallel", { balancer = b2 }), "answered")
	eq(2, #sw.legs - n, "user/1003 not rung")
	eq(1, load(b2, "user/1003"), "other call's hold untouched")
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
			pick = function() return nil, msg, "backend" end,
			hold_all = function(_, members)
				local st = {}
				for i = 1, #members do st[i] = "unheld" end
				return st, msg, "backend"
			end,
			fallback = function() return true end,
		}
	end
	sw:behave("user/1001", { no_answer = true })
	sw:behave("user/1002", { answer = 2, talk = 5 })
	local a = sw:call()
	local dest = ring.ring(a, M3, "balancing", { balancer = down, timeout = 10 })
	io.stdout:write("     (backend error from a " .. kind .. ")\n")
	eq("user/1002", dest, "list order after the backend error (" .. kind .. ")")
	eq("user/1001", sw.legs[1].dest, "first in list order")
	ok(sw:logged("ringing in list order"), "logged through consoleLog")
	local fellback = false
	for _, e in ipairs(sw.events) do
		fellback = fellback or e.headers["Ringlb-Action"] == "fallback"
	end
	ok(fellback, "a fallback event")

	local a2 = sw:call()
	local n = sw.originates
	local dest2, reason, detail = ring.ring(a2, M3, "balancing", { balancer = down, on_backend_error = "fail" })
	eq(nil, dest2, "fail policy")
	eq("backend_error", reason, "reason")
	ok(type(detail) == "string" and detail:find("ringlb: "), "detail " .. tostring(detail))
	eq(n, sw.originates, "nothing rung")
	local a3 = sw:call()
	sw:behave("user/1001", { answer = 1 })
	eq("user/1001", ring.ring(a3, M3, "parallel", { balancer = down }), "parallel falls back too")
end)

test("hold released exactly when the bridge ends", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	sw:behave("user/1001", { answer = 3, talk = 42 })
	local at_end
	sw.on_bridge_end = function() at_end = load(b, "user/1001") end
	local a = sw:call()
	eq("user/1001", ring.ring(a, M3, "sequential", { balancer = b }), "answered")
	eq(1, at_end, "held through the whole bridge")
	eq(45, sw.bridges[1].stop, "bridge end")
	eq(45, sw.t, "released with no time passing after the bridge")
	eq(0, load(b, "user/1001"), "released when the bridge returned")
	eq(nil, a:getVariable("api_hangup_hook"), "hook cleared once nothing is held")
	sw:end_call(a)
	eq(0, #sw.hooks_run, "no hook left to run")
end)

test("caller hangs up during the bridge", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer()
	sw:behave("user/1001", { answer = 1, talk = 100 })
	local a = sw:call({ hangup_at = 30 })
	eq("user/1001", ring.ring(a, M3, "balancing", { balancer = b }), "answered")
	eq(30, sw.t, "bridge ended by the caller")
	eq(0, load(b, "user/1001"), "released")
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
		eq(nil, d, "case " .. i)
		eq("invalid", reason, "case " .. i .. " (" .. tostring(detail) .. ")")
	end
	eq(0, #sw.legs, "nothing rung")
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
	eq("answered", a:getVariable("ringlb_result"), "ringlb_result")
	eq("user/1002", a:getVariable("ringlb_result_detail"), "answered member")
	ok(sw.last_dialstring:find("originate_timeout=12", 1, true), "timeout argument used")
	sw:end_call(a)
	local out = sw:api("lua", "ringlb_admin.lua status " .. name)
	ok(out:find("balancer " .. name, 1, true) and out:find("0 active calls", 1, true), "status after:\n" .. out)

	-- arguments from channel variables
	local a2 = sw:call({ vars = { ringlb_mode = "parallel", ringlb_group = name, ringlb_members = "user/1003" } })
	sw:behave("user/1003", { busy = true })
	ok(sw:run_script("ringlb_ring.lua", {}, a2), "script ran")
	eq("all_busy", a2:getVariable("ringlb_result"), "result from channel variables")
	local a3 = sw:call()
	ok(sw:run_script("ringlb_ring.lua", { "balancing" }, a3), "script ran")
	eq("invalid", a3:getVariable("ringlb_result"), "missing arguments")
end)

test("do not disturb: members on DND are skipped, visible in ringlb_dnd_skipped and the log", function()
	local sw = fsmock.new({ script_dir = root .. "/lua", path = root .. "/lua/?.lua", cpath = cpath,
		globals = { domain = "example.com" },
		directory = { ["1001@example.com"] = { do_not_disturb = "true" }, ["1002@other.org"] = { do_not_disturb = "TRUE" },
			["1003@example.com"] = { do_not_disturb = "false" } } })
	local ring = ring_in(sw)
	local b = balancer({ tie = "list" })
	sw:behave("user/1003", { answer = 1, talk = 5 })
	local a = sw:call({ vars = { domain_name = "example.com" } })
	eq("user/1003", (ring.ring(a, { "user/1001", "user/1002@other.org", "user/1003" }, "balancing", { balancer = b })),
		"first member not on DND")
	eq("user/1001,user/1002@other.org", a:getVariable("ringlb_dnd_skipped"), "skipped members")
	ok(sw:logged("do not disturb: user/1001, user/1002@other.org skipped"), "logged")
	for _, l in ipairs(sw.legs) do
		ok(l.dest == "user/1003", "only 1003 rang, not " .. l.dest)
	end
	-- everyone on DND: nobody rings
	local a2 = sw:call()
	local d, reason, detail = ring.ring(a2, { "user/1001" }, "parallel", {})
	eq(nil, d, "no answer")
	eq("all_busy do_not_disturb", reason .. " " .. detail, "reason")
	-- switched off per ring and by the global
	sw:behave("user/1001", { answer = 1, talk = 5 })
	eq("user/1001", (ring.ring(sw:call(), { "user/1001" }, "parallel", { dnd = false })), "dnd = false rings 1001")
	sw.globals.ringlb_dnd = "false"
	eq("user/1001", (ring.ring(sw:call(), { "user/1001" }, "parallel", {})), "ringlb_dnd=false rings 1001")
end)

test("a member whose leg rings out backs off: the next call tries the others first", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer({ tie = "list" })
	sw:behave("user/1001", { no_answer = true })
	sw:behave("user/1002", { answer = 1, talk = 5 })
	eq("user/1002", (ring.ring(sw:call(), M3, "balancing", { balancer = b, timeout = 10 })), "1002 answers")
	eq("user/1001", sw.legs[1].dest, "1001 rang first, by list order")
	local o = assert(b:order(M3))
	eq("user/1002,user/1003,user/1001", table.concat(o, ","), "1001 after its peers")
	local n = #sw.legs
	eq("user/1002", (ring.ring(sw:call(), M3, "balancing", { balancer = b, timeout = 10 })), "1002 answers again")
	eq("user/1002", sw.legs[n + 1].dest, "the next call rang 1002 first, not 1001")
	-- A caller who hangs up mid-ring is no reason to back a member off.
	local b2 = balancer({ tie = "list" })
	sw:behave("user/1001", { answer = 30 })
	local a = sw:call({ hangup_at = 3 })
	ring.ring(a, M3, "balancing", { balancer = b2, timeout = 10 })
	eq("user/1001", assert(b2:order(M3))[1], "no back-off after the caller left")
end)

-- Regression: the ring helper backed off a member whose turn the deadline
-- had cut short (1 s of a 20 s timeout), as if it had rung out.
test("a turn cut short by the deadline is no ring-out: only a full turn backs off", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer({ tie = "list" })
	for _, m in ipairs(M3) do sw:behave(m, { no_answer = true }) end
	local d, reason = ring.ring(sw:call(), M3, "balancing", { balancer = b, timeout = 20, deadline = 21 })
	eq(nil, d, "nobody answers")
	eq("no_answer", reason, "reason")
	eq("user/1001,user/1002", sw.legs[1].dest .. "," .. sw.legs[2].dest, "1001 rang its 20 s, then 1002 what was left")
	eq(2, #sw.legs, "legs")
	eq("user/1002,user/1003,user/1001", table.concat(assert(b:order(M3)), ","), "only 1001 backed off")
end)

test("do not disturb marks a member away; back, it rejoins at its group's mean, not ahead of it", function()
	local dir = { ["1001@example.com"] = { do_not_disturb = "true" } }
	local sw = fsmock.new({ script_dir = root .. "/lua", path = root .. "/lua/?.lua", cpath = cpath,
		globals = { domain = "example.com" }, directory = dir })
	local ring = ring_in(sw)
	local b = balancer({ fewest_half_life = "never", start_window = "never" })
	for _, m in ipairs(M3) do sw:behave(m, { answer = 1, talk = 5 }) end
	local answered = {}
	for i = 1, 4 do
		local d = ring.ring(sw:call({ vars = { domain_name = "example.com" } }), M3, "balancing", { balancer = b })
		answered[i] = d
	end
	eq("user/1002,user/1003,user/1002,user/1003", table.concat(answered, ","), "1001 skipped while on DND")
	dir["1001@example.com"].do_not_disturb = "false"
	eq("user/1001", (ring.ring(sw:call({ vars = { domain_name = "example.com" } }), M3, "balancing", { balancer = b })),
		"back: 1001 answers the next call")
	-- 1001 had 1 answered call to the others' 2: lifted to 2, it takes
	-- its turn after them (lru), not the next calls in a row.
	eq("user/1002,user/1003,user/1001", table.concat(assert(b:order(M3)), ","), "lifted to the mean")
end)

-- Regression: ring.ParseMode folded the case of the mode while ring.lua
-- dispatched on the raw string: `ringlb_ring.lua Parallel ...` without a
-- balancer rang the members one at a time (3 originates instead of 1), and
-- with a balancer ended "invalid" after the check had passed.
test("a mode in any case rings as its canonical word: Parallel is one originate", function()
	local sw = new_switch({ ringlb_nobalancer = "true" })
	local name = "mixed_" .. os.time()
	local a = sw:call()
	ok(sw:run_script("ringlb_ring.lua", { "Parallel", name, "user/1001,user/1002,user/1003", "5" }, a), "script ran")
	eq(1, sw.originates, "originates for Parallel without a balancer")
	eq("no_answer", a:getVariable("ringlb_result"), "result")
	eq(3, #sw.legs, "the three rang at once")
	local sw2 = new_switch()
	sw2:behave("user/1002", { answer = 1, talk = 5 })
	local a2 = sw2:call()
	ok(sw2:run_script("ringlb_ring.lua", { "Parallel", name, "user/1001,user/1002,user/1003", "5" }, a2), "script ran")
	eq("answered", a2:getVariable("ringlb_result"), "Parallel with a balancer (" .. tostring(a2:getVariable("ringlb_result_detail")) .. ")")
	eq(1, sw2.originates, "originates for Parallel with a balancer")
	local ring = ring_in(sw2)
	local b = balancer()
	sw2:behave("user/1001", { answer = 1, talk = 5 })
	eq("user/1001", (ring.ring(sw2:call(), M3, " BALANCING ", { balancer = b })), "BALANCING")
	for _, e in ipairs(sw2.events) do
		ok(e.headers["Ringlb-Mode"] == "parallel" or e.headers["Ringlb-Mode"] == "balancing",
			"events carry the canonical mode: " .. tostring(e.headers["Ringlb-Mode"]))
	end
end)

-- Regression: the release hook named one member a word after the balancer
-- and the uuid, and mod_lua passes a script at most 128 words (the 128th
-- keeps the rest of the line): a parallel ring holding 127 or 128 members
-- gave ringlb_release.lua its last members as one word, and their holds
-- lived until max_hold_age.
test("a parallel ring of 128 members: its release hook is whole within mod_lua's 128 words", function()
	local members = {}
	for i = 1, ring_max do members[i] = "user/" .. (2000 + i) end
	-- What the switch does with a hook of one member a word.
	local _, argv = fsmock.mod_lua_args("ringlb_release.lua b u " .. table.concat(members, " "))
	eq(fsmock.MOD_LUA_MAX_ARGS, #argv, "mod_lua's words")
	eq(members[126] .. " " .. members[127] .. " " .. members[128], argv[128], "the last members reach the script as one word")
	local sw = new_switch()
	local ring = ring_in(sw)
	local b, name = balancer()
	sw:behave(members[1], { no_answer = true, on_ring = function() error("the script dies while they ring") end })
	local a = sw:call()
	ok(not pcall(ring.ring, a, members, "parallel", { balancer = b }), "the script died")
	local loads = b:loads(members)
	for _, m in ipairs(members) do eq(1, loads[m], "held while ringing: " .. m) end
	local hook = a:getVariable("api_hangup_hook")
	eq("lua ringlb_release.lua " .. name .. " " .. a:get_uuid() .. " " .. table.concat(members, ","), hook, "the hook")
	sw:end_call(a)
	loads = b:loads(members)
	for _, m in ipairs(members) do eq(0, loads[m], "released by the hook: " .. m) end
	-- A hook an earlier ringlb wrote, one member a word, is released too,
	-- all 128 of them.
	local a2 = sw:call()
	for _, m in ipairs(members) do assert(b:acquire(m, a2:get_uuid())) end
	a2:setVariable("api_hangup_hook", "lua ringlb_release.lua " .. name .. " " .. a2:get_uuid() .. " " .. table.concat(members, " "))
	sw:end_call(a2)
	loads = b:loads(members)
	for _, m in ipairs(members) do eq(0, loads[m], "an earlier version's hook released " .. m) end
	-- A key with the hook's separator is refused, before anything rings.
	local n = #sw.legs
	local _, result = ring.ring(sw:call(), { { key = "grp/a,b", legs = { "user/1" } } }, "parallel", { balancer = b })
	eq("invalid", result, "a member key with ','")
	eq(n, #sw.legs, "nothing rung")
	-- One past the limit is refused.
	members[#members + 1] = "user/9999"
	_, result = ring.ring(sw:call(), members, "sequential", { balancer = b })
	eq("invalid", result, "members past " .. ring_max)
end)

test("the result says what happened: rang a member out, then the others were full", function()
	local sw = new_switch()
	local ring = ring_in(sw)
	local b = balancer({ capacity = 1, tie = "list" })
	assert(b:acquire("user/1002", "other-a"))
	assert(b:acquire("user/1003", "other-b"))
	local a = sw:call()
	local d, result, detail, summary = ring.ring(a, M3, "balancing", { balancer = b, timeout = 8 })
	eq(nil, d, "no answer")
	eq("no_answer", result, "result")
	eq("at_capacity", detail, "detail")
	eq("rang 1 member (NO_ANSWER); 2 members at capacity, drained or in wrap-up; then none left with room", summary, "summary")
	eq(summary, a:getVariable("ringlb_result_summary"), "ringlb_result_summary")
	eq("at_capacity", a:getVariable("ringlb_result_detail"), "ringlb_result_detail")
	eq(8, sw.t, "the 8 s rung first")
	local skipped
	for _, e in ipairs(sw.events) do
		if e.headers["Ringlb-Action"] == "skipped" then skipped = e.headers["Ringlb-Members"] .. " " .. e.headers["Ringlb-Reason"] end
	end
	eq("user/1002,user/1003 at_capacity", skipped, "skipped event")
	assert(b:release("user/1002", "other-a"))
	assert(b:release("user/1003", "other-b"))
end)

test("events: answered at the answer, ring-end before the bridge, and a ring-end for every ring", function()
	local sw = new_switch({ domain = "example.com" })
	sw.directory = { ["1001@example.com"] = { do_not_disturb = "true" } }
	local ring = ring_in(sw)
	local b = balancer()
	sw:behave("user/1002", { answer = 2, talk = 5 })
	local at_bridge
	sw.on_bridge = function(s)
		local last = s.events[#s.events].headers
		at_bridge = last["Ringlb-Action"] .. " " .. last["Ringlb-Result"] .. " " .. last["Ringlb-Rang"]
	end
	eq("user/1002", (ring.ring(sw:call(), { "user/1002" }, "parallel", { balancer = b })), "answered")
	eq("ring-end answered 1", at_bridge, "the last event as the bridge starts")
	sw.on_bridge = nil
	local function ends(f)
		local n = #sw.events
		f()
		local out = {}
		for i = n + 1, #sw.events do
			local h = sw.events[i].headers
			out[#out + 1] = h["Ringlb-Action"] .. (h["Ringlb-Result"] and (":" .. h["Ringlb-Result"] .. ":" .. h["Ringlb-Reason"]) or "")
		end
		return table.concat(out, " ")
	end
	eq("ring-end:invalid:" .. "ringlb: ring: mode \"bogus\" (want parallel, sequential or balancing): invalid ring argument",
		ends(function() ring.ring(sw:call(), M3, "bogus", {}) end), "invalid arguments")
	eq("ring-end:caller_gone:NONE", ends(function()
		local a = sw:call()
		a:hangup("NORMAL_CLEARING")
		ring.ring(a, M3, "parallel", { balancer = b })
	end), "a caller already gone")
	eq("ring-start skipped ring-end:all_busy:do_not_disturb", ends(function()
		ring.ring(sw:call({ vars = { domain_name = "example.com" } }), { "user/1001" }, "sequential", {})
	end), "every member on do-not-disturb")
end)

test("a balancer that cannot be opened: fallback names it, and the group rings in list order", function()
	local sw = new_switch()
	local env = sw:fresh_env()
	local ring = env.require("ringlb.ring")
	env.require("ringlb.options").open = function(name)
		return nil, "ringlb: redis: " .. name .. ": maxmemory-policy allkeys-lru evicts keys", "backend"
	end
	sw:behave("user/1001", { no_answer = true })
	sw:behave("user/1002", { answer = 1, talk = 5 })
	local a = sw:call()
	eq("user/1002", (ring.ring(a, M3, "balancing", { balancer = "evicting", timeout = 5 })), "list order")
	eq("user/1001", sw.legs[1].dest, "first in list order")
	local e = sw.events[1].headers
	eq("fallback evicting balancing", e["Ringlb-Action"] .. " " .. e["Ringlb-Balancer"] .. " " .. e["Ringlb-Mode"], "fallback event")
	ok(e["Ringlb-Reason"]:find("evicts keys", 1, true), "the error: " .. e["Ringlb-Reason"])
	eq("ring-start", sw.events[2].headers["Ringlb-Action"], "then the ring starts")
	local d, result, detail = ring.ring(sw:call(), M3, "balancing", { balancer = "evicting", on_backend_error = "fail" })
	eq("backend_error", result, "with on_backend_error=fail (" .. tostring(d) .. ")")
	ok(detail:find("evicts keys", 1, true), "detail " .. detail)
end)

test("do-not-disturb is looked up once per member, only for members about to ring", function()
	local sw = new_switch({ domain = "example.com" })
	local ring = ring_in(sw)
	local b = balancer({ tie = "list" })
	sw:behave("user/1001", { answer = 1, talk = 5 })
	eq("user/1001", (ring.ring(sw:call(), M3, "balancing", { balancer = b })), "answered")
	eq(1, sw.api_calls.user_data, "directory lookups when the first member answers")
	sw.api_calls.user_data = 0
	sw.directory = { ["1001@example.com"] = { do_not_disturb = "true" } }
	sw:behave("user/1002", { no_answer = true })
	sw:behave("user/1003", { answer = 1, talk = 5 })
	local a = sw:call()
	eq("user/1003", (ring.ring(a, M3, "sequential", { balancer = b, timeout = 5 })), "answered")
	eq(3, sw.api_calls.user_data, "one lookup per member tried")
	eq("user/1001", a:getVariable("ringlb_dnd_skipped"), "skipped")
	eq(0, b:load("user/1001"), "the member on do-not-disturb is not left held")
	sw.api_calls.user_data = 0
	ring.ring(sw:call(), M3, "parallel", { balancer = b, timeout = 5 })
	eq(3, sw.api_calls.user_data, "parallel: one lookup per member")
end)

----------------------------------------------------------------------------
-- Calls that do not go through ringlb: the shipped lua.conf.xml runs
-- ringlb_track.lua as a startup script that takes the channel events from
-- an event consumer; earlier configs bind it as three hooks, one fresh state
-- per event. Every tracking test runs both ways. The scripted switch has no
-- event core for ringlb.switch_events to bind to, so its consumer takes
-- mod_lua's EventConsumer, as in any such host; tests/c/switch_events.c runs
-- the same consumer on an event core.

local LUA_CONF = root .. "/freeswitch-conf/autoload_configs/lua.conf.xml"

-- with_hooks writes a copy of the shipped lua.conf.xml that binds
-- ringlb_track.lua as the three hooks, with (keep_consumer) or without the
-- consumer's startup script, and returns its path.
local function with_hooks(keep_consumer)
	local f = assert(io.open(LUA_CONF))
	local text = f:read("*a")
	f:close()
	local hooks = '<hook event="CHANNEL_CREATE" script="ringlb_track.lua"/>\n'
		.. '    <hook event="CHANNEL_ANSWER" script="ringlb_track.lua"/>\n'
		.. '    <hook event="CHANNEL_HANGUP_COMPLETE" script="ringlb_track.lua"/>'
	local consumer = '<param name="startup-script" value="ringlb_track.lua consume"/>'
	local at = assert(text:find(consumer, 1, true), "the shipped lua.conf.xml runs the consumer")
	text = text:sub(1, at - 1) .. (keep_consumer and consumer .. "\n    " or "") .. hooks .. text:sub(at + #consumer)
	local path = os.tmpname()
	f = assert(io.open(path, "w"))
	f:write(text)
	f:close()
	return path
end
local HOOKS_CONF = with_hooks(false)

-- track_conf is the lua.conf.xml of the tracking test running.
local track_conf = LUA_CONF

-- track_test adds test name twice: the tracker as the shipped consumer, and
-- as hooks.
local function track_test(name, f)
	test("tracking (consumer): " .. name, function()
		track_conf = LUA_CONF
		f()
	end)
	test("tracking (hooks): " .. name, function()
		track_conf = HOOKS_CONF
		f()
		track_conf = LUA_CONF
	end)
end

-- tracked returns a started switch with track_conf, and a balancer the
-- tracker counts on (opened as the tracker opens it, from global
-- variables). cfg adds to the switch's config (dial_vars).
local function tracked(globals, cfg)
	nbal = nbal + 1
	local name = string.format("trk%d_%d", nbal, os.time())
	local g = { ringlb_track = name, domain = "example.com" }
	for k, v in pairs(globals or {}) do g[(k:gsub("NAME", name))] = v end
	local c = { script_dir = root .. "/lua", path = root .. "/lua/?.lua", cpath = cpath,
		globals = g, lua_conf = track_conf }
	for k, v in pairs(cfg or {}) do c[k] = v end
	local sw = fsmock.new(c)
	for _, r in ipairs(sw:start()) do
		assert(r[1], "startup script: " .. tostring(r[2]))
	end
	local ring = ring_in(sw)
	local b = assert(ring.open(name))
	return sw, ring, b, name
end

local function state_of(b, dest)
	local s = assert(b:snapshot())
	for _, d in ipairs(s.destinations) do
		if d.dest == dest then
			return d.active, d.ringing, d.talking
		end
	end
	return 0, 0, 0
end

test("tracking: the shipped lua.conf.xml runs ringlb_track.lua as a consumer of three channel events, no hooks", function()
	local sw = tracked()
	eq("ringlb_startup.lua|ringlb_track.lua consume", table.concat(sw.startup_scripts, "|"), "startup scripts")
	eq(nil, next(sw.hooks), "no hooks")
	eq(1, #sw.consumers, "one consumer")
	local bound = {}
	for ev in pairs(sw.consumers[1].bound) do bound[#bound + 1] = ev end
	table.sort(bound)
	eq("CHANNEL_ANSWER CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE", table.concat(bound, " "), "events taken")
	ok(sw:logged("ringlb_track: counting calls that do not go through ringlb"), "it says it counts")
	eq(0, sw:stop(), "it ends as the switch stops")
end)

test("tracking: the consumer takes no events while ringlb_track is unset, and counts again once it is set", function()
	local sw, _, b, name = tracked()
	sw.globals.ringlb_track = nil
	local a = sw:call({ vars = { user_name = "1011", domain_name = "example.com" } })
	eq(0, load(b, "user/1011"), "not counted")
	eq(0, #sw.consumers, "the consumer is gone: the switch copies no event for it")
	ok(sw:logged("ringlb_track is unset: not counting calls until it is set again"), "said so")
	a:answer()
	sw:end_call(a)
	sw.globals.ringlb_track = name
	sw:call({ vars = { user_name = "1012", domain_name = "example.com" } }) -- wakes it: its CREATE is missed
	eq(1, #sw.consumers, "consuming again")
	local a3 = sw:call({ vars = { user_name = "1013", domain_name = "example.com" } })
	eq(1, load(b, "user/1013"), "the next call counts")
	a3:answer()
	eq(1, select(3, state_of(b, "user/1013")), "talking")
	sw:end_call(a3)
	eq(0, load(b, "user/1013"), "released")
	eq(0, sw:stop(), "it ends as the switch stops")
end)

test("tracking: with ringlb_track unset from the start the consumer takes nothing, and the switch stops", function()
	local sw = fsmock.new({ script_dir = root .. "/lua", path = root .. "/lua/?.lua", cpath = cpath,
		globals = {}, lua_conf = LUA_CONF })
	for _, r in ipairs(sw:start()) do
		assert(r[1], "startup script: " .. tostring(r[2]))
	end
	local a = sw:call({ vars = { user_name = "1014", domain_name = "example.com" } })
	sw:end_call(a)
	eq(0, #sw.consumers, "no consumer")
	eq(0, sw:stop(), "it ends as the switch stops")
end)

test("tracking: hooks bound to ringlb_track.lua (an earlier lua.conf.xml) keep tracking, and the consumer steps aside", function()
	local conf = with_hooks(true)
	track_conf = conf
	local ok_, err = pcall(function()
		local sw, _, b = tracked()
		eq(0, #sw.consumers, "no consumer")
		ok(sw:logged("so the hooks track calls and this consumer stops"), "the consumer says why it stops")
		eq(1, #sw.hooks.CHANNEL_CREATE, "one hook per event")
		local a = sw:call({ vars = { user_name = "1009", domain_name = "example.com" } })
		eq(1, load(b, "user/1009"), "counted once, by the hooks")
		sw:end_call(a)
		eq(0, load(b, "user/1009"), "released")
	end)
	track_conf = LUA_CONF
	os.remove(conf)
	assert(ok_, err)
end)

-- http_get returns what a plain HTTP/1.0 GET of addr/path answers (bash's
-- /dev/tcp, as tests/api/run.sh scrapes).
local function http_get(addr, path)
	local host, port = addr:match("^(.*):(%d+)$")
	local p = io.popen("bash -c 'exec 3<>/dev/tcp/" .. host .. "/" .. port
		.. " && printf \"GET " .. path .. " HTTP/1.0\\r\\n\\r\\n\" >&3 && cat <&3' 2>&1")
	local out = p:read("*a")
	p:close()
	return out
end

local function metrics_lines(sw)
	local out = {}
	for _, l in ipairs(sw.logs) do
		if l.msg:find("metrics", 1, true) then out[#out + 1] = l.level .. " " .. l.msg end
	end
	return out
end

test("start-up: the shipped lua.conf.xml runs ringlb_startup.lua once as mod_lua loads, before any call", function()
	local sw = fsmock.new({ script_dir = root .. "/lua", path = root .. "/lua/?.lua", cpath = cpath,
		globals = {}, lua_conf = LUA_CONF })
	eq("ringlb_startup.lua|ringlb_track.lua consume", table.concat(sw.startup_scripts, "|"), "startup scripts")
	ok(not pcall(sw.call, sw), "no call before the switch has started")
	local res = sw:start()
	eq(2, #res, "two startup scripts ran")
	ok(res[1][1], "it ran: " .. tostring(res[1][2]))
	ok(res[2][1], "the tracker runs: " .. tostring(res[2][2]))
	ok(sw:logged("ringlb_startup: ringlb " .. ringlb._VERSION .. " loaded"), "logged")
	eq(0, #metrics_lines(sw), "no metrics without ringlb_metrics")
end)

test("start-up: metrics answer as the switch starts, no call made; a port in use is logged once in 100 rings", function()
	local sw = fsmock.new({ script_dir = root .. "/lua", path = root .. "/lua/?.lua", cpath = cpath,
		globals = { ringlb_metrics = "127.0.0.1:0" }, lua_conf = LUA_CONF })
	sw:start()
	local lines = metrics_lines(sw)
	eq(1, #lines, "one metrics line at start: " .. table.concat(lines, " | "))
	local addr = lines[1]:match("metrics on http://([%d%.]+:%d+)/metrics")
	ok(addr, "the startup script says where: " .. lines[1])
	local page = http_get(addr, "/metrics")
	ok(page:find("200 OK", 1, true) and page:find("ringlb_workers", 1, true), "the endpoint answers before any call:\n" .. page:sub(1, 300))
	-- rings ask again (for switches without the startup script): the endpoint
	-- is up, nothing more is said
	sw:behave("user/1001", { answer = 1, talk = 1 })
	for _ = 1, 3 do
		local a = sw:call()
		assert(sw:run_script("ringlb_ring.lua", { "balancing", "m_" .. os.time(), "user/1001", "5" }, a))
		eq("answered", a:getVariable("ringlb_result"), "ring")
		sw:end_call(a)
	end
	eq(1, #metrics_lines(sw), "still one metrics line after the rings")

	-- Another switch process asks for the port this one holds: ringlb logs
	-- the failure once, whatever the number of rings, and the calls go on.
	local errf = os.tmpname()
	local p = io.popen(string.format("%s %s/metrics_busy.lua %s %s 100 2>%s", arg[-1], here, arg[1], addr, errf))
	local out = p:read("*a")
	p:close()
	local f = io.open(errf)
	local err = f:read("*a")
	f:close()
	os.remove(errf)
	eq("rang 100", out:match("rang %d+"), "the child's calls went on:\n" .. out .. err)
	ok(not out:find("^log ") and not out:find("\nlog "), "the scripts log nothing about it themselves:\n" .. out)
	local n = 0
	for line in err:gmatch("[^\n]+") do
		if line:find("metrics endpoint on " .. addr .. " not started", 1, true) then
			n = n + 1
			ok(line:find("address already in use", 1, true), "says why: " .. line)
		end
	end
	eq(1, n, "ringlb's lines about the port in use, in 100 rings:\n" .. err)
end)

track_test("a call dialled straight to the extension counts, and a group skips the agent", function()
	local sw, ring, b = tracked()
	sw:behave("user/1001@example.com", { answer = 2, talk = 30 })
	sw:behave("user/1002", { answer = 1, talk = 5 })
	local seen
	sw.on_bridge = function(s, a, leg)
		if leg.rec.dest ~= "user/1001@example.com" then
			seen = { load(b, "user/1001"), load(b, "user/1002") }
			return
		end
		eq(1, load(b, "user/1001"), "load while the direct call talks")
		eq(1, select(3, state_of(b, "user/1001")), "talking")
		-- a group call meanwhile goes to 1002
		local caller = s:call()
		eq("user/1002", (ring.ring(caller, { "user/1001", "user/1002" }, "balancing", { balancer = b })), "group skips 1001")
		s:end_call(caller)
	end
	local a = sw:call() -- an outside caller; the dialplan bridges user/1001@${domain_name}
	local leg = sw:originate("user/1001@example.com", a)
	eq("1001", a:getVariable("dialed_user"), "the caller's leg carries dialed_user too (it is inbound)")
	eq(1, load(b, "user/1001"), "load once answered")
	sw:bridge(a, leg)
	sw:end_call(a)
	eq(1, seen[1], "the group saw 1001 busy")
	eq(1, seen[2], "the ringlb ring to 1002 counts once")
	eq(0, load(b, "user/1001"), "released at hangup")
	eq(0, load(b, "user/1002"), "1002 released")
end)

track_test("a call the agent places counts while it lasts", function()
	local sw, _, b = tracked()
	local a = sw:call({ vars = { user_name = "1003", domain_name = "example.com" } })
	eq(1, load(b, "user/1003"), "counted at CHANNEL_CREATE")
	eq(1, select(2, state_of(b, "user/1003")), "ringing until answered")
	a:answer()
	eq(1, select(3, state_of(b, "user/1003")), "talking after answer")
	sw:end_call(a)
	eq(0, load(b, "user/1003"), "released")
	local anon = sw:call() -- not authenticated as a user: nothing counts
	sw:end_call(anon)
	eq(0, #assert(b:snapshot()).holds, "no hold for an outside caller")
end)

track_test("a transfer moves the load from one agent to the other", function()
	local sw, _, b = tracked()
	sw:behave("user/1002", { answer = 1, talk = 20 })
	sw:behave("user/1003", { answer = 1, talk = 20 })
	local a = sw:call()
	local l2 = sw:originate("user/1002", a)
	eq(1, load(b, "user/1002"), "1002 talking")
	-- 1002 transfers the caller to 1003: its leg ends, the caller is bridged anew
	l2:hangup("NORMAL_CLEARING")
	local l3 = sw:originate("user/1003", a)
	eq(0, load(b, "user/1002"), "1002 free after the transfer")
	eq(1, load(b, "user/1003"), "1003 counts")
	l3:hangup("NORMAL_CLEARING")
	sw:end_call(a)
	eq(0, load(b, "user/1003"), "1003 released")
end)

track_test("a call from another application (no caller leg) counts", function()
	local sw, _, b = tracked()
	sw:behave("user/1004", { answer = 3 })
	local leg = sw:originate("user/1004", nil) -- originate user/1004 &park, or mod_callcenter
	ok(leg:answered(), "answered")
	eq(1, load(b, "user/1004"), "counted")
	leg:hangup("NORMAL_CLEARING")
	eq(0, load(b, "user/1004"), "released")
end)

track_test("forked registrations count once; the losing leg releases nothing", function()
	local sw, _, b = tracked()
	sw:behave("user/1001", { answer = 2, devices = 2, talk = 10 })
	local during
	sw.on_bridge = function() during = load(b, "user/1001") end
	local a = sw:call()
	sw:bridge(a, sw:originate("user/1001", a))
	local causes = {}
	for _, l in ipairs(sw.legs) do causes[#causes + 1] = tostring(l.cause) end
	eq("nil LOSE_RACE", table.concat(causes, " "), "two legs: one answers, one loses the race")
	eq(1, during, "one hold while talking")
	sw:end_call(a)
	eq(0, load(b, "user/1001"), "released")
end)

track_test("a ringlb ring counts once, ringing then talking", function()
	local sw, ring, b = tracked()
	local ringing, talking
	sw:behave("user/1002", { answer = 2, talk = 10, on_ring = function()
		ringing = { state_of(b, "user/1002") }
	end })
	sw.on_bridge = function() talking = { state_of(b, "user/1002") } end
	local a = sw:call()
	eq("user/1002", (ring.ring(a, { "user/1002" }, "balancing", { balancer = b })), "answered")
	eq("1 1 0", table.concat(ringing, " "), "active, ringing, talking while it rings")
	eq("1 0 1", table.concat(talking, " "), "active, ringing, talking once answered")
	sw:end_call(a)
	eq(0, load(b, "user/1002"), "released")
end)

track_test("a leg first seen at its answer counts then, talking; a second answer changes nothing", function()
	local sw, _, b = tracked()
	local h = { ["Unique-ID"] = "leg-answer-only", ["Call-Direction"] = "outbound" }
	local v = { dialed_user = "1010", dialed_domain = "example.com" }
	sw:fire("CHANNEL_ANSWER", h, v) -- its CHANNEL_CREATE was missed
	eq("1 0 1", table.concat({ state_of(b, "user/1010") }, " "), "counted and talking (active, ringing, talking)")
	sw:fire("CHANNEL_ANSWER", h, v)
	eq("1 0 1", table.concat({ state_of(b, "user/1010") }, " "), "the same hold")
	h["Hangup-Cause"] = "NORMAL_CLEARING"
	sw:fire("CHANNEL_HANGUP_COMPLETE", h, v)
	eq(0, load(b, "user/1010"), "released")
end)

track_test("a missed hangup is healed by max_hold_age", function()
	local sw, _, b = tracked({ ringlb_NAME_max_hold_age = "1" })
	sw:call({ vars = { user_name = "1005", domain_name = "example.com" } }) -- its hangup never reaches ringlb
	eq(1, load(b, "user/1005"), "counted")
	os.execute("sleep 1.2")
	eq(0, load(b, "user/1005"), "gone after max_hold_age")
end)

track_test("a failing hook script is logged and the tracker still counts", function()
	local sw, _, b = tracked()
	sw.hooks.CHANNEL_CREATE = sw.hooks.CHANNEL_CREATE or {}
	table.insert(sw.hooks.CHANNEL_CREATE, 1, "ringlb_no_such_script.lua")
	local a = sw:call({ vars = { user_name = "1006", domain_name = "example.com" } })
	ok(sw:logged("ringlb_no_such_script.lua"), "the missing script is logged")
	eq(1, load(b, "user/1006"), "counted all the same")
	sw:end_call(a)
	-- a balancer that cannot be opened is logged, nothing raised
	sw.globals.ringlb_track = "bad{name}"
	local a2 = sw:call({ vars = { user_name = "1006", domain_name = "example.com" } })
	ok(sw:logged("ringlb_track: balancer bad{name}"), "bad balancer logged")
	sw:end_call(a2)
end)

track_test("a \"::\" neither breaks the tracker nor stops the other balancers", function()
	local sw, _, b, name = tracked()
	sw.globals.ringlb_track = "bad::name," .. name
	local a = sw:call({ vars = { user_name = "10::07", domain_name = "example.com" } })
	ok(sw:logged("ringlb_track: balancer bad::name"), "the balancer that cannot open is logged")
	eq(1, load(b, "user/10::07"), "a member with \"::\" counts on the other balancer")
	a:answer()
	eq(1, select(3, state_of(b, "user/10::07")), "talking")
	sw:end_call(a)
	eq(0, load(b, "user/10::07"), "released at hangup")
end)

track_test("the window: a group offers a member whose direct call rings before the hooks count it", function()
	local sw, ring, b = tracked({ ringlb_NAME_tie = "list" })
	sw.defer_events = true -- the event thread is behind, as in a busy switch
	local chosen
	sw:behave("user/1002", { answer = 1, talk = 5 })
	sw:behave("user/1001", { answer = 10, talk = 5, on_ring = function(s)
		-- 1001's direct call rings; its CHANNEL_CREATE waits for the event thread
		eq(0, load(b, "user/1001"), "not counted yet")
		local caller = s:call()
		chosen = ring.ring(caller, { "user/1001", "user/1002" }, "balancing", { balancer = b, bridge = false })
		s:end_call(caller)
	end }, { answer = 1, talk = 5 })
	local a = sw:call()
	sw:originate("user/1001", a)
	eq("user/1001", chosen, "offered to 1001, whose direct call was ringing")
	sw:dispatch()
	eq(1, load(b, "user/1001"), "counted once the event arrived")
end)

track_test("a leg to a user counted as it is made (directory dial-var execute_on_originate) closes the window", function()
	local sw, ring, b = tracked({ ringlb_NAME_tie = "list" },
		{ dial_vars = { execute_on_originate_ringlb = "lua ringlb_track.lua originate" } })
	sw.defer_events = true
	local chosen, ringing
	sw:behave("user/1002", { answer = 1, talk = 5 })
	sw:behave("user/1001", { answer = 10, talk = 5, on_ring = function(s, leg)
		ringing = { state_of(b, "user/1001") }
		local caller = s:call()
		chosen = ring.ring(caller, { "user/1001", "user/1002" }, "balancing", { balancer = b, bridge = false })
		s:end_call(caller)
	end }, { answer = 1, talk = 5 })
	local a = sw:call()
	local leg = sw:originate("user/1001", a)
	eq("1 1 0", table.concat(ringing, " "), "1001 counted (active, ringing, talking) before its events arrived")
	eq("user/1002", chosen, "the group skips 1001")
	local runs = 0
	for _, e in ipairs(sw.executed) do
		if e.uuid == leg:get_uuid() then runs = runs + 1 end
	end
	eq(1, runs, "the tracker ran once on the leg, not again when the originate returned")
	ok(leg:getVariable("execute_on_originate_ringlb") == nil, "and cleared the variable")
	sw:dispatch()
	eq(1, load(b, "user/1001"), "the CREATE hook counts the same hold again: still 1")
	eq(1, select(3, state_of(b, "user/1001")), "talking after CHANNEL_ANSWER")
	leg:hangup("NORMAL_CLEARING")
	sw:dispatch()
	eq(0, load(b, "user/1001"), "released at hang-up")
	-- ringlb's own leg to 1002 ran it too (ringlb_dest: left to the ring
	-- helper, which released it when its caller hung up)
	eq(2, #sw.executed, "one run per leg")
	eq(0, load(b, "user/1002"), "the group's leg to 1002 not counted by the tracker")
end)

test("two groups on two balancers sharing agents, tracked on both: no busy agent is offered, each call counts once", function()
	-- The shipped example: sales and support, ringlb_track=sales,support.
	nbal = nbal + 1
	local sales, support = "sales" .. nbal .. "_" .. os.time(), "support" .. nbal .. "_" .. os.time()
	local sw = fsmock.new({ script_dir = root .. "/lua", path = root .. "/lua/?.lua", cpath = cpath,
		globals = { ringlb_track = sales .. "," .. support, domain = "example.com", ringlb_tie = "list",
			ringlb_capacity = "1" },
		lua_conf = LUA_CONF })
	for _, r in ipairs(sw:start()) do
		assert(r[1], "startup script: " .. tostring(r[2]))
	end
	local ring = ring_in(sw)
	local bs, bp = assert(ring.open(sales)), assert(ring.open(support))
	local agents = { "user/1001", "user/1002", "user/1003" }
	local function loads(b)
		local t = assert(b:loads(agents))
		return table.concat({ t[agents[1]], t[agents[2]], t[agents[3]] }, " ")
	end
	for _, a in ipairs(agents) do
		sw:behave(a, { answer = 1, talk = 60 })
	end
	sw:behave("user/1002@example.com", { answer = 1, talk = 60 })
	local steps = {}
	sw.on_bridge = function(s, a, leg)
		local dest = leg.rec.dest
		if dest == "user/1002@example.com" then
			-- A direct call to 1002, tracked on both balancers, talks: it
			-- is one call on each. A sales call comes in.
			steps.direct = { loads(bs), loads(bp) }
			local c = s:call()
			steps.sales = (ring.ring(c, { "user/1002", "user/1001" }, "balancing", { balancer = bs }))
			s:end_call(c)
		elseif dest == "user/1001" and not steps.support then
			-- The sales call talks on 1001: a support call for every agent.
			steps.during_sales = { loads(bs), loads(bp) }
			local c = s:call()
			steps.support = (ring.ring(c, { "user/1001", "user/1002", "user/1003" }, "balancing", { balancer = bp }))
			s:end_call(c)
		elseif dest == "user/1003" then
			steps.all_busy = { loads(bs), loads(bp) }
			-- Every agent is on a call: neither group offers one.
			for _, b in ipairs({ bs, bp }) do
				local c = s:call()
				local d, res = ring.ring(c, agents, "balancing", { balancer = b })
				steps[#steps + 1] = tostring(d) .. " " .. tostring(res)
				s:end_call(c)
			end
		end
	end
	local a = sw:call()
	local leg = sw:originate("user/1002@example.com", a)
	sw:bridge(a, leg)
	sw:end_call(a)
	eq("0 1 0", steps.direct[1], "the direct call counts once on sales")
	eq("0 1 0", steps.direct[2], "and once on support")
	eq("user/1001", steps.sales, "sales skips 1002, busy on a direct call")
	eq("1 1 0", steps.during_sales[2], "support sees the sales call")
	eq("user/1003", steps.support, "support skips 1001 (sales call) and 1002 (direct call)")
	eq("1 1 1", steps.all_busy[1], "sales: each agent on one call")
	eq("1 1 1", steps.all_busy[2], "support: the same calls, each once")
	eq("nil all_busy", steps[1], "sales offers no busy agent")
	eq("nil all_busy", steps[2], "support offers no busy agent")
	eq("0 0 0", loads(bs), "every call released on sales")
	eq("0 0 0", loads(bp), "and on support")
end)

-- docs/events.md documents every ringlb::info event: each action and
-- header the tests above saw fired is in it, and each one it lists was
-- fired. Runs last: it reads what every test fired.
test("docs/events.md: every action and header fired is documented, and every one documented is fired", function()
	local f = assert(io.open(root .. "/docs/events.md"))
	local doc = f:read("*a")
	f:close()
	local common, actions, section = {}, {}, nil
	for line in doc:gmatch("[^\n]*") do
		local action = line:match("^### `([%w%-]+)`")
		if action then
			section = action
			actions[section] = {}
		elseif line:match("^## ") then
			section = line:match("^## Headers of every event") and "common" or nil
		elseif section then
			local header = line:match("^| `(Ringlb%-[%w%-]+)`") or line:match("^%- `(Ringlb%-[%w%-]+)`")
			if header and section == "common" then
				common[header] = true
			elseif header then
				actions[section][header] = true
			end
		end
	end
	ok(next(common) and next(actions), "docs/events.md parsed")
	local seen = {}
	for _, e in ipairs(fsmock.fired) do
		if e.subclass == "ringlb::info" then
			local action = e.headers["Ringlb-Action"]
			ok(actions[action], "action " .. tostring(action) .. " is fired but not in docs/events.md")
			seen[action] = seen[action] or {}
			for h in pairs(e.headers) do
				ok(common[h] or actions[action][h], "header " .. h .. " of " .. action .. " is fired but not in docs/events.md")
				seen[action][h] = true
			end
			for h in pairs(common) do
				ok(e.headers[h], action .. " lacks " .. h)
			end
		end
	end
	for action, headers in pairs(actions) do
		ok(seen[action], "docs/events.md lists " .. action .. ", which no test saw fired")
		for h in pairs(headers) do
			ok(seen[action][h], "docs/events.md lists " .. h .. " for " .. action .. ", which no test saw fired")
		end
	end
end)

local cases = {}
for i, t in ipairs(tests) do
	cases[i] = { t.name, t.f }
end
T.run("ring groups, " .. (jit and jit.version or _VERSION), cases)
