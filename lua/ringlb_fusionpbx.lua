-- ringlb_fusionpbx.lua: FusionPBX balancing ring groups from fs_cli.
--
--   fs_cli -x "lua ringlb_fusionpbx.lua status 9000@example.com"
--   fs_cli -x "lua ringlb_fusionpbx.lua status <ring_group_uuid>"
--
-- status shows the group's members as a call would ring them now (do-not-
-- disturb, forwards and follow-me applied) with each member's calls on the
-- balancer: active, ringing, talking, answered. It reads FusionPBX's
-- database as FusionPBX's scripts do (resources.functions.config).
-- Output goes to the API stream (what fs_cli prints); failures start with
-- "-ERR". It never raises.
local function out(s)
	if stream then
		stream:write(s)
	else
		freeswitch.consoleLog("INFO", s)
	end
end

local cmd, group = argv and argv[1], argv and argv[2]
if cmd ~= "status" or not group or group == "" then
	out("-ERR usage: lua ringlb_fusionpbx.lua status <extension>@<domain> | <ring_group_uuid>\n")
	return
end
local ok, err = pcall(function()
	pcall(require, "resources.functions.config") -- FusionPBX's: database.system
	local fusionpbx = require "ringlb.fusionpbx"
	local db, derr = fusionpbx.database()
	if not db then
		out("-ERR " .. tostring(derr) .. "\n")
		return
	end
	local text, serr = fusionpbx.status(db, group)
	db:release()
	if not text then
		out("-ERR " .. tostring(serr) .. "\n")
		return
	end
	out(text)
end)
if not ok then
	out("-ERR " .. tostring(err) .. "\n")
end
