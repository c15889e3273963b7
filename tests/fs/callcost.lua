-- callcost.lua [N]: run inside the test switch (fs_cli -x "lua /path/callcost.lua 20000"):
-- the wall time per call of what a ring asks of ringlb besides the ring itself, from the
-- thread the API command runs on (the switch's, realtime as shipped): ring.metrics() with
-- the endpoint up, and ringlb's no-op call (a bare hand-off) for comparison.
local n = tonumber(argv[1]) or 20000
local ring = require "ringlb.ring"
local ringlb = require "ringlb"
local function now_ns()
	local p = io.popen("date +%s%N")
	local t = tonumber(p:read("*l"))
	p:close()
	return t
end
local function timed(what, f)
	f()
	local t0 = now_ns()
	for _ = 1, n do f() end
	local per = (now_ns() - t0) / n / 1000
	stream:write(string.format("%-28s %8.2f us per call (%d calls)\n", what, per, n))
end
timed("ringlb._noop()", function() ringlb._noop() end)
timed("ring.metrics(), endpoint up", function() assert(ring.metrics()) end)
