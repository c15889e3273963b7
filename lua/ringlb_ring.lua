-- ringlb_ring.lua: ring a group from the XML dialplan without writing Lua.
--
--   <action application="lua"
--           data="ringlb_ring.lua balancing sales user/1001,user/1002,user/1003 20"/>
--
-- Arguments (each may instead come from a channel variable, then a global
-- variable, of the name given):
--   1 mode     parallel | sequential | balancing, any case (ringlb_mode)
--   2 group    balancer name; also names the group       (ringlb_group)
--   3 members  comma-separated destinations              (ringlb_members)
--   4 timeout  seconds per attempt, default 30           (ringlb_timeout)
-- and ringlb_on_backend_error (fallback | fail), ringlb_nobalancer=true
-- (ring parallel or sequential groups without holds). The balancer's
-- options come from global variables only (ringlb.options), so that the
-- hangup hook, which runs without this channel, opens the very same one.
-- Results: ringlb_result, ringlb_result_detail, ringlb_result_summary,
-- ringlb_answered_dest, ringlb_dnd_skipped (README, docs/events.md).
-- ringlb first: loading it lets ringlb keep its own modules compiled for
-- the process, so ringlb.ring is not compiled again for every call.
require "ringlb"
local ring = require "ringlb.ring"

local function setting(i, var)
	local v = argv and argv[i]
	if v == nil or v == "" then
		v = session:getVariable(var)
	end
	if v == nil or v == "" then
		v = freeswitch.getGlobalVariable(var)
	end
	if v == "" then
		return nil
	end
	return v
end

if not session then
	return
end

local group = setting(2, "ringlb_group")
local members = {}
for d in string.gmatch(setting(3, "ringlb_members") or "", "[^,%s]+") do
	members[#members + 1] = d
end

-- The metrics endpoint (global ringlb_metrics) is started by
-- ringlb_startup.lua as the switch starts; asking again here starts it on a
-- switch without that script, or once a port taken at start is free. It
-- costs one call into ringlb when the endpoint is up.
ring.metrics()

local dest, result, detail = ring.ring(session, members, setting(1, "ringlb_mode"), {
	balancer = group or "", -- the group names the balancer: required
	no_holds = setting(99, "ringlb_nobalancer") == "true",
	timeout = tonumber(setting(4, "ringlb_timeout") or ""),
	on_backend_error = setting(99, "ringlb_on_backend_error"),
})
if not dest and result == "invalid" then
	freeswitch.consoleLog("ERR", "ringlb_ring: usage: ringlb_ring.lua <mode> <group> <dest,dest,...> [timeout]\n")
elseif not dest then
	freeswitch.consoleLog("INFO", "ringlb_ring: group " .. tostring(group) .. ": " .. tostring(result)
		.. " (" .. tostring(detail) .. ")\n")
end
