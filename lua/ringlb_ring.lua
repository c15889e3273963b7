-- ringlb_ring.lua: ring a group from the XML dialplan without writing Lua.
--
--   <action application="lua"
--           data="ringlb_ring.lua balancing sales user/1001,user/1002,user/1003 20"/>
--
-- Arguments (each may instead come from a channel variable, then a global
-- variable, of the name given):
--   1 mode     parallel | sequential | balancing        (ringlb_mode)
--   2 group    balancer name; also names the group       (ringlb_group)
--   3 members  comma-separated destinations              (ringlb_members)
--   4 timeout  seconds per attempt, default 30           (ringlb_timeout)
-- The balancer's options (Redis URL and so on) come from global variables
-- only, e.g. ringlb_url in vars.xml, so that the hangup hook, which runs
-- without this channel, opens the very same balancer (see ring.options).
-- Set ringlb_on_backend_error=fail to fail instead of ringing in list order
-- when the backend is down, and ringlb_nobalancer=true to ring parallel or
-- sequential groups without holds.
--
-- Results go into channel variables: ringlb_result (answered, or the reason:
-- no_answer, all_busy, failed, caller_gone, backend_error, invalid),
-- ringlb_result_detail and ringlb_answered_dest; ringlb_dnd_skipped lists the
-- members skipped for do-not-disturb (ringlb_dnd=false turns that off).
local ring = require "ringlb.ring"

local function log(level, msg)
	freeswitch.consoleLog(level, "ringlb_ring: " .. msg .. "\n")
end

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

local function finish(result, detail)
	session:setVariable("ringlb_result", result)
	session:setVariable("ringlb_result_detail", detail or "")
end

if not session or not session:ready() then
	return
end

local mode = setting(1, "ringlb_mode")
local group = setting(2, "ringlb_group")
local members = setting(3, "ringlb_members")
local timeout = tonumber(setting(4, "ringlb_timeout") or "")

local dests = {}
for d in string.gmatch(members or "", "[^,%s]+") do
	dests[#dests + 1] = d
end
if not mode or not group or #dests == 0 then
	log("ERR", "usage: ringlb_ring.lua <mode> <group> <dest,dest,...> [timeout]")
	finish("invalid", "missing mode, group or members")
	return
end

-- The metrics endpoint (global ringlb_metrics) is started by
-- ringlb_startup.lua as the switch starts; asking again here starts it on a
-- switch without that script, or once a port taken at start is free. It
-- costs one call into ringlb when the endpoint is up.
ring.metrics()

local opts = {
	timeout = timeout,
	on_backend_error = setting(99, "ringlb_on_backend_error"),
}
if mode == "balancing" or setting(99, "ringlb_nobalancer") ~= "true" then
	local b, err, code = ring.open(group)
	if b then
		opts.balancer = b
	elseif code == "backend" and opts.on_backend_error ~= "fail" and mode ~= "balancing" then
		log("WARNING", "balancer " .. group .. ": " .. tostring(err) .. "; ringing without it")
	elseif code == "backend" and opts.on_backend_error ~= "fail" then
		log("WARNING", "balancer " .. group .. ": " .. tostring(err) .. "; ringing in list order")
		mode = "sequential"
	else
		log("ERR", "balancer " .. group .. ": " .. tostring(err))
		finish(code == "backend" and "backend_error" or "invalid", err)
		return
	end
end

local dest, leg_or_reason, detail = ring.ring(session, dests, mode, opts)
if dest then
	finish("answered", dest)
else
	log("INFO", "group " .. group .. ": " .. tostring(leg_or_reason) .. " (" .. tostring(detail) .. ")")
	finish(leg_or_reason, detail)
end
