-- ringlb_release.lua: the api_hangup_hook that ringlb.ring sets on the
-- caller's channel. The switch runs it, in a fresh Lua state, when the
-- caller hangs up, even if the script that took the holds died:
--
--   lua ringlb_release.lua <balancer> <call uuid> <dest> [<dest> ...]
--
-- It releases each hold; releasing what was already released is harmless.
-- The balancer is found by name (ringlb.ring's find: the module's get when it
-- has one, else opened with the options in the global variables).
local ring = require "ringlb.ring"

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
	say("ERR", "usage: lua ringlb_release.lua <balancer> <uuid> <dest> [<dest> ...]")
	return
end
local b, err = ring.find(name)
if not b then
	say("ERR", "release for " .. uuid .. ": cannot open balancer " .. name .. ": " .. tostring(err))
	return
end
for i = 3, #argv do
	local ok, rerr = b:release(argv[i], uuid)
	if ok == nil then
		say("WARNING", "release " .. argv[i] .. " for " .. uuid .. ": " .. tostring(rerr))
	elseif ok then
		say("DEBUG", "released " .. argv[i] .. " for " .. uuid)
	end
end
