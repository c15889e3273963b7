-- parts.lua [N]: run inside the test switch (fs_cli -x "lua /path/parts.lua 300"): what the
-- parts of a ringlb call cost the switch, as CPU time of the whole switch process
-- (os.clock) per operation, from the thread the API command runs on (the switch's, realtime
-- as shipped, so every call into ringlb is handed to its workers). The switch's idle work
-- counts in too: run it on an idle switch, several times. For the switch tests only
-- (tests/fs/cpu.sh measures whole calls; docs/freeswitch.md says what these told us).
local n = tonumber(argv[1]) or 300
local api = freeswitch.API()
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local function script(name, text)
	local f = assert(io.open(dir .. "/" .. name, "w"))
	f:write(text)
	f:close()
	return dir .. "/" .. name
end
local empty = script("empty.lua", "-- nothing\n")
local req = script("req.lua", 'require "ringlb"\n')
local req_ring = script("req_ring.lua", 'require "ringlb.ring"\n')
local req_ring_cached = script("req_ring_cached.lua", 'require "ringlb"\nrequire "ringlb.ring"\n')
local script_dir = freeswitch.getGlobalVariable("script_dir")

local function timed(what, f, k)
	k = k or n
	f(0)
	local t0 = os.clock()
	for i = 1, k do f(i) end
	stream:write(string.format("%-58s %9.1f us (%d)\n", what, (os.clock() - t0) / k * 1e6, k))
end

local ok, err = pcall(function()
	timed("a fresh Lua state running an empty script (lua API)", function() api:execute("lua", empty) end)
	timed("... that requires ringlb", function() api:execute("lua", req) end)
	timed("... that requires ringlb.ring, compiled from source", function() api:execute("lua", req_ring) end)
	timed("... that requires ringlb, then ringlb.ring (kept compiled)", function() api:execute("lua", req_ring_cached) end)
	timed("compiling ringlb/ring.lua (loadfile)", function() loadfile(script_dir .. "/ringlb/ring.lua") end)
	timed("compiling ringlb_ring.lua (loadfile)", function() loadfile(script_dir .. "/ringlb_ring.lua") end)
	local ringlb = require "ringlb"
	timed("ringlb._noop() (a call into ringlb, handed off)", function() ringlb._noop() end, n * 10)
	local b = assert(ringlb.open("parts_" .. os.time(), {}))
	timed("b:count + b:release (two calls)", function(i)
		b:count("user/9999", "parts-" .. i)
		b:release("user/9999", "parts-" .. i)
	end, n * 5)
	timed("freeswitch.Event CUSTOM, 5 headers, fired", function()
		local e = freeswitch.Event("CUSTOM", "ringlb::info")
		e:addHeader("Ringlb-Action", "attempt")
		e:addHeader("Ringlb-Balancer", "parts")
		e:addHeader("Ringlb-Mode", "balancing")
		e:addHeader("Ringlb-Call-UUID", "00000000-0000-0000-0000-000000000000")
		e:addHeader("Ringlb-Members", "user/1001")
		e:fire()
	end, n * 5)
	local domain = freeswitch.getGlobalVariable("domain")
	timed("user_data <user>@<domain> var do_not_disturb (API)", function()
		api:execute("user_data", "1001@" .. domain .. " var do_not_disturb")
	end, n * 2)
	timed("freeswitch.getGlobalVariable", function() freeswitch.getGlobalVariable("ringlb_events") end, n * 10)
end)
os.execute("rm -rf " .. dir)
if not ok then
	stream:write("-ERR " .. tostring(err) .. "\n")
end
