-- node.lua SO_DIR busy|idle REDIS_URL SECONDS: one switch process whose
-- metrics the dashboard check (main.go) has Prometheus scrape. It opens a
-- balancer with the memory backend and one with Redis, starts the metrics
-- endpoint on a free loopback port, prints "bound <addr>", and then:
--   busy: offers calls to both for SECONDS seconds, five a second each:
--         most are answered, the oldest are released (members go into
--         wrap-up, 3 s, and are not offered calls meanwhile), about
--         four stay up on each;
--   idle: takes a few holds once (one answered) and then does nothing
--         for SECONDS seconds: its counters stand still, as on a switch
--         at night.
-- It stops by itself after SECONDS; the check kills it sooner.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local T = require "testlib"
local ringlb = T.load_ringlb(arg[1])
local mode, url, seconds = arg[2], arg[3], tonumber(arg[4])
assert((mode == "busy" or mode == "idle") and url and seconds, "usage: node.lua SO_DIR busy|idle REDIS_URL SECONDS")

local agents = { "user/1001", "user/1002", "user/1003", "user/1004" }
local balancers = {
	assert(ringlb.open(mode .. "-mem", { wrapup = "3" })),
	-- A wide Redis timeout: the machine may be busy with other work.
	assert(ringlb.open(mode .. "-redis", { url = url, wrapup = "3", key_prefix = "dash-" .. mode .. ":", timeout = "10" })),
}
local addr = assert(ringlb.metrics("127.0.0.1:0"))
io.stdout:write("bound " .. addr .. "\n")
io.stdout:flush()

local deadline = os.time() + seconds
if mode == "idle" then
	for _, b in ipairs(balancers) do
		assert(b:acquire("user/1001", "idle-a"))
		assert(b:answered("user/1001", "idle-a"))
		assert(b:acquire("user/1002", "idle-b"))
		assert(b:next(agents, "idle-c"))
	end
	while os.time() < deadline do
		os.execute("sleep 1")
	end
	return
end

local up, n = {}, 0
while os.time() < deadline do
	for _, b in ipairs(balancers) do
		n = n + 1
		local id = "call-" .. n
		-- Members in wrap-up are not offered: every one may be.
		local d, err, code = b:next(agents, id)
		assert(d or code == "at_capacity", err)
		if d and n % 4 ~= 0 then
			assert(b:answered(d, id))
		end
		if d then
			up[#up + 1] = { b = b, dest = d, id = id }
		end
	end
	while #up > 8 do
		local c = table.remove(up, 1)
		assert(c.b:release(c.dest, c.id))
	end
	os.execute("sleep 0.2")
end
