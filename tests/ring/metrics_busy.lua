-- metrics_busy.lua SO_DIR ADDR CALLS: one switch process of the ring tests'
-- start-up case (run_ring_tests.lua), alone in its process because a
-- process serves one metrics endpoint. The scripted switch starts with the
-- shipped lua.conf.xml and ringlb_metrics=ADDR, a port another process holds,
-- then rings CALLS calls through ringlb_ring.lua. It prints the switch's log
-- lines that mention metrics, one per line prefixed "log ", then "rang N";
-- ringlb's own lines (hostlog: standard error outside the switch) are for
-- the caller to count.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."
package.path = here .. "/../?.lua;" .. package.path
local T = require "testlib"
T.load_ringlb(arg[1])
local addr, calls = arg[2], tonumber(arg[3])
package.path = root .. "/lua/?.lua;" .. here .. "/?.lua"
local fsmock = require "fsmock"

local sw = fsmock.new({
	script_dir = root .. "/lua",
	path = root .. "/lua/?.lua",
	cpath = arg[1] .. "/?.so",
	globals = { ringlb_metrics = addr, domain = "example.com" },
	lua_conf = root .. "/freeswitch-conf/autoload_configs/lua.conf.xml",
})
for _, r in ipairs(sw:start()) do
	assert(r[1], "startup script: " .. tostring(r[2]))
end
sw:behave("user/1001", { answer = 1, talk = 2 })
local rang = 0
for _ = 1, calls do
	local a = sw:call()
	local ok, err = sw:run_script("ringlb_ring.lua", { "balancing", "busy", "user/1001", "5" }, a)
	assert(ok, err)
	if a:getVariable("ringlb_result") == "answered" then
		rang = rang + 1
	end
	sw:end_call(a)
end
for _, l in ipairs(sw.logs) do
	if l.msg:find("metrics", 1, true) then
		io.stdout:write("log " .. l.level .. " " .. l.msg:gsub("\n$", "") .. "\n")
	end
end
io.stdout:write("rang " .. rang .. "\n")
