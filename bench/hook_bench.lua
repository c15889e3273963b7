-- hook_bench.lua SO_DIR SCRIPT_DIR [--quick]
--
-- What ringlb's Lua costs per event and per call, measured through the
-- scripted switch (tests/ring/fsmock.lua) with the real ringlb.so, each
-- script run in a fresh environment with its own package.loaded, as mod_lua
-- runs each in a fresh lua_State (so every require reads and compiles its
-- file again, and the module's luaopen runs again):
--   * the call tracker (SCRIPT_DIR/ringlb_track.lua, hooked on
--     CHANNEL_CREATE, CHANNEL_ANSWER and CHANNEL_HANGUP_COMPLETE, tracking
--     one memory balancer): CPU time and Lua bytes compiled per event, for
--     a call between two channels that are not users (a gateway caller to
--     a gateway), a direct call to a user (the caller's leg and the leg to
--     the user), and the legs of a ringlb ring;
--   * a group call through SCRIPT_DIR/ringlb_ring.lua (balancing, three
--     members, the first answers and hangs up at once) against a plain Lua
--     script that originates the first member and bridges it: CPU time per
--     call, Lua bytes compiled, do-not-disturb lookups.
-- Times are this process's CPU time (os.clock: Lua and ringlb's Go
-- threads, not the switch's own work: state creation, SWIG, events),
-- medians of 5 rounds. SCRIPT_DIR may be an older ringlb's lua/ directory
-- to compare (its ringlb/ modules next to it). It measures only.
local so_dir, script_dir = arg[1], arg[2]
assert(so_dir and script_dir, "usage: lua5.3 hook_bench.lua SO_DIR SCRIPT_DIR [--quick]")
local quick = arg[3] == "--quick"
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
package.path = here .. "/../tests/ring/?.lua;" .. package.path
local fsmock = require "fsmock"

local bytes = 0
local real_loadfile = loadfile
loadfile = function(path, ...)
	local f = io.open(path, "rb")
	if f then
		bytes = bytes + #f:read("*a")
		f:close()
	end
	return real_loadfile(path, ...)
end

local function median(xs)
	table.sort(xs)
	return xs[math.ceil(#xs / 2)]
end

-- measure runs f n times, 5 rounds; it returns the median CPU µs per run
-- and the Lua bytes compiled per run.
local function measure(n, f)
	local times = {}
	local b0 = bytes
	for _ = 1, 5 do
		local t0 = os.clock()
		for i = 1, n do f(i) end
		times[#times + 1] = (os.clock() - t0) / n * 1e6
	end
	return median(times), (bytes - b0) / (5 * n)
end

local function switch(globals)
	local sw = fsmock.new({ script_dir = script_dir, path = script_dir .. "/?.lua", cpath = so_dir .. "/?.so",
		globals = globals, directory = { ["1001@example.com"] = {}, ["1002@example.com"] = {}, ["1003@example.com"] = {} } })
	sw.hooks = { CHANNEL_CREATE = { "ringlb_track.lua" }, CHANNEL_ANSWER = { "ringlb_track.lua" },
		CHANNEL_HANGUP_COMPLETE = { "ringlb_track.lua" } }
	return sw
end

local n = quick and 200 or 2000
local out = {}
local function row(what, us, b, extra)
	out[#out + 1] = string.format("| %s | %.0f | %.0f | %s |", what, us, b, extra or "")
end

-- The tracker: three events for each channel.
local sw = switch({ ringlb_track = "bench_track", domain = "example.com" })
local function channel(uuid, dir, vars)
	for _, ev in ipairs({ "CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE" }) do
		sw:fire(ev, { ["Unique-ID"] = uuid, ["Call-Direction"] = dir, ["Hangup-Cause"] = "NORMAL_CLEARING" }, vars)
	end
end
-- The floor: the same events running an empty script.
local empty = os.tmpname()
io.open(empty, "w"):close()
sw.hooks = { CHANNEL_CREATE = { empty }, CHANNEL_ANSWER = { empty }, CHANNEL_HANGUP_COMPLETE = { empty } }
local us, b = measure(n, function(i)
	channel("in-" .. i, "inbound", { caller_id_number = "0301234567", sofia_profile_name = "external" })
	channel("out-" .. i, "outbound", { originating_leg_uuid = "in-" .. i })
end)
os.remove(empty)
row("the floor: 6 events running an empty script", us, b, string.format("%.0f µs per event", us / 6))
sw.hooks = { CHANNEL_CREATE = { "ringlb_track.lua" }, CHANNEL_ANSWER = { "ringlb_track.lua" },
	CHANNEL_HANGUP_COMPLETE = { "ringlb_track.lua" } }
us, b = measure(n, function(i)
	channel("in-" .. i, "inbound", { caller_id_number = "0301234567", sofia_profile_name = "external" })
	channel("out-" .. i, "outbound", { originating_leg_uuid = "in-" .. i })
end)
row("call between two channels that are not users (6 events)", us, b, string.format("%.0f µs per event", us / 6))
us, b = measure(n, function(i)
	channel("in-" .. i, "inbound", { dialed_user = "1001", dialed_domain = "example.com" })
	channel("u-" .. i, "outbound", { dialed_user = "1001", dialed_domain = "example.com", originating_leg_uuid = "in-" .. i })
end)
row("direct call to a user, counted (6 events)", us, b, string.format("%.0f µs per event", us / 6))
us, b = measure(n, function(i)
	channel("r-" .. i, "outbound", { ringlb_dest = "user/1001", dialed_user = "1001", originating_leg_uuid = "in-" .. i })
end)
row("a ringlb ring's leg (3 events)", us, b, string.format("%.0f µs per event", us / 3))

-- A group call, through ringlb_ring.lua and through a plain bridge script.
local plain = os.tmpname()
do
	local f = assert(io.open(plain, "w"))
	f:write([[
session:setVariable("continue_on_fail", "true")
for m in argv[1]:gmatch("[^,]+") do
	local leg = freeswitch.Session("{ignore_early_media=true,originate_timeout=20}" .. m, session)
	if leg:ready() and leg:answered() then
		freeswitch.bridge(session, leg)
		break
	end
end
]])
	f:close()
end
local rsw = switch({ domain = "example.com" })
rsw.hooks = {}
for _, m in ipairs({ "user/1001", "user/1002", "user/1003" }) do rsw:behave(m, { answer = 0, talk = 0 }) end
local group = "user/1001,user/1002,user/1003"
local function lookups() return rsw.api_calls and rsw.api_calls.user_data or 0 end
local l0 = lookups()
local ring_us, ring_b = measure(n, function()
	local a = rsw:call()
	rsw:run_script("ringlb_ring.lua", { "balancing", "bench_ring", group, "20" }, a)
	rsw:end_call(a)
end)
local dnd = (lookups() - l0) / (5 * n)
local plain_us, plain_b = measure(n, function()
	local a = rsw:call()
	rsw:run_script(plain, { group }, a)
	rsw:end_call(a)
end)
os.remove(plain)
row("group call, ringlb_ring.lua balancing 3 members", ring_us, ring_b,
	string.format("%.1f do-not-disturb lookups; %.0f µs over the plain script", dnd, ring_us - plain_us))
row("group call, a plain Lua originate + bridge", plain_us, plain_b, "")

print("| what (" .. script_dir .. ") | CPU µs | Lua bytes compiled | |")
print("|---|---:|---:|---|")
print(table.concat(out, "\n"))
