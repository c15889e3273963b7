-- ringlb_release.lua: the hangup hook ringlb.ring writes into the caller's
-- api_hangup_hook. The switch runs it, in a fresh Lua state, when the caller
-- hangs up, even if the script that took the holds died:
--
--   lua ringlb_release.lua <balancer> <call uuid> <key>,<key>,...
--
-- The keys are one word (mod_lua passes a script at most 128); hooks written
-- by earlier versions, one key per word, are released too. Releasing what
-- was already released is harmless. The balancer is the one open in this
-- process, else opened with the options of the global variables.
local function say(level, msg)
	if stream then
		stream:write(msg .. "\n")
	end
	if level and freeswitch and freeswitch.consoleLog then
		freeswitch.consoleLog(level, "ringlb: " .. msg .. "\n")
	end
end

local name, uuid = argv and argv[1], argv and argv[2]
if not name or not uuid or not argv[3] then
	say("ERR", "usage: lua ringlb_release.lua <balancer> <uuid> <key>[,<key>...]")
	return
end
local ringlb = require "ringlb"
local b, err = ringlb.get(name)
if not b then
	b, err = require("ringlb.options").open(name)
end
if not b then
	say("ERR", "release for " .. uuid .. ": cannot open balancer " .. name .. ": " .. tostring(err))
	return
end
for i = 3, #argv do
	-- a space too: mod_lua leaves the words past its 128th in the last one
	for key in argv[i]:gmatch("[^,%s]+") do
		local ok, rerr = b:release(key, uuid)
		if ok == nil then
			say("WARNING", "release " .. key .. " for " .. uuid .. ": " .. tostring(rerr))
		elseif ok then
			say("DEBUG", "released " .. key .. " for " .. uuid)
		end
	end
end
