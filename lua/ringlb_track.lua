-- ringlb_track.lua: count on ringlb's balancers every call a member carries,
-- not only those ringlb places: calls dialled straight to an extension,
-- calls the agent places, transfers, calls from other applications.
--
-- mod_lua runs it for channel events, in a fresh Lua state each time, with
-- the event as the global `event`; switch it on in lua.conf.xml:
--   <hook event="CHANNEL_CREATE" script="ringlb_track.lua"/>
--   <hook event="CHANNEL_ANSWER" script="ringlb_track.lua"/>
--   <hook event="CHANNEL_HANGUP_COMPLETE" script="ringlb_track.lua"/>
-- and name the balancers in the global variable ringlb_track (vars.xml,
-- comma-separated): each is opened with the options the ring scripts use
-- (ring.options). The rule of what counts is ringlb.track.
--
-- The switch can also run it as a leg to a user is made, before the leg
-- rings, so that the count does not wait for the event (docs/tracking.md):
-- in the user directory (the domain's <params>),
--   <param name="dial-var-execute_on_originate_ringlb" value="lua ringlb_track.lua originate"/>
-- Then it runs as a dialplan application on the new leg (the global
-- `session`), counts it, and clears the variable so that it runs once per
-- leg. The event hooks still mark the answer and release at hang-up.
--
-- It never raises an error into the switch: failures are logged, and a
-- missed release is healed by max_hold_age (memory) or the lease (Redis).
local function log(level, msg)
	freeswitch.consoleLog(level, "ringlb_track: " .. msg .. "\n")
end

local originating = not event and session ~= nil and argv ~= nil and argv[1] == "originate"
if not event and not originating then
	return
end

local ok, err = pcall(function()
	local track = require "ringlb.track"
	local get
	if originating then
		-- Once per leg: the switch would run it again when the originate
		-- that placed the user/ leg returns, after the answer.
		session:setVariable(track.ORIGINATE_VAR, nil)
		get = track.leg(session:get_uuid(), function(name) return session:getVariable(name) end)
	else
		get = function(h) return event:getHeader(h) end
	end
	local names = freeswitch.getGlobalVariable("ringlb_track")
	if names == nil or names == "" then
		return
	end
	local act = track.action(get)
	if not act then
		return
	end
	local ring = require "ringlb.ring"
	for name in names:gmatch("[^,%s]+") do
		local b, oerr = ring.open(name)
		if not b then
			log("WARNING", "balancer " .. name .. ": " .. tostring(oerr))
		else
			local done, derr
			if act.op == "count" then
				done, derr = b:count(act.member, act.call)
			elseif act.op == "answered" then
				-- A leg first seen at answer (or whose count failed) counts now.
				done, derr = b:count(act.member, act.call)
				if done ~= nil then
					done, derr = b:answered(act.member, act.call)
				end
			else
				done, derr = b:release(act.member, act.call)
			end
			if done == nil then
				log("WARNING", act.op .. " " .. act.member .. " for " .. act.call .. " on " .. name .. ": " .. tostring(derr))
			end
		end
	end
end)
if not ok then
	log("ERR", tostring(err))
end
