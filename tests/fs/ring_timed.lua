-- ring_timed.lua SCRIPT ARGS...: runs the dialplan script SCRIPT (a path) with
-- ARGS as its argv, for the switch tests only (tests/fs/cpu.sh with TIMED=1),
-- and appends to the file the global ringlb_fs_timed_log names one line of
-- where the caller's thread spent its CPU meanwhile (thread CPU time, from
-- the module the global ringlb_fs_thread_cpu names, tests/fs/thread_cpu.c):
--   NAME total=NS originate=NS bridge=NS require=NS ringlb=NS events=NS api=NS
-- total is the script's own: all of it but the originates (freeswitch.Session)
-- and the bridges (freeswitch.bridge), the switch's work of any ring group.
-- Within total: require (require, outermost calls), ringlb (the functions
-- of the ringlb module but fire_event: plans, turns, results, dial
-- strings; balancer methods are not seen and count in total only), events
-- (ringlb.fire_event) and api (freeswitch.API():execute, the do-not-disturb
-- lookups). What wraps the calls costs a few microseconds, in both variants.
if not session then
	return
end
local now = assert(package.loadlib(freeswitch.getGlobalVariable("ringlb_fs_thread_cpu"), "luaopen_thread_cpu"))()
local t_start = now()
local spent = { originate = 0, bridge = 0, require = 0, ringlb = 0, events = 0, api = 0 }

-- timed returns f, its time added to spent[part]; calls within a timed call
-- count once, in the outermost part.
local depth = 0
local function timed(part, f)
	return function(...)
		if depth > 0 then
			return f(...)
		end
		depth = depth + 1
		local t0 = now()
		local r = table.pack(pcall(f, ...))
		spent[part] = spent[part] + now() - t0
		depth = depth - 1
		if not r[1] then
			error(r[2], 0)
		end
		return table.unpack(r, 2, r.n)
	end
end

freeswitch.Session = timed("originate", freeswitch.Session)
freeswitch.bridge = timed("bridge", freeswitch.bridge)
local api_new = freeswitch.API
freeswitch.API = function(...)
	local real = api_new(...)
	local execute = timed("api", function(_, ...) return real:execute(...) end)
	return setmetatable({ execute = execute }, { __index = function(_, k)
		return function(_, ...) return real[k](real, ...) end
	end })
end
local require_real = require
local wrapped = false
require = timed("require", function(name)
	local m = require_real(name)
	if name == "ringlb" and not wrapped then
		wrapped = true
		for k, f in pairs(m) do
			if type(f) == "function" then
				m[k] = timed(k == "fire_event" and "events" or "ringlb", f)
			end
		end
	end
	return m
end)

local script = argv[1]
argv = { table.unpack(argv, 2) }
local ok, err = pcall(dofile, script)
local total = now() - t_start - spent.originate - spent.bridge
local name = script:match("([^/]+)%.lua$") or script
local f = io.open(freeswitch.getGlobalVariable("ringlb_fs_timed_log"), "a")
if f then
	f:write(string.format("%s total=%d originate=%d bridge=%d require=%d ringlb=%d events=%d api=%d\n", name, total,
		spent.originate, spent.bridge, spent.require, spent.ringlb, spent.events, spent.api))
	f:close()
end
if not ok then
	error(err, 0)
end
