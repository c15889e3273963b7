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
-- It never raises an error into the switch: failures are logged, and a
-- missed release is healed by max_hold_age (memory) or the lease (Redis).
if not event then
	return
end

local function log(level, msg)
	freeswitch.consoleLog(level, "ringlb_track: " .. msg .. "\n")
end

local ok, err = pcall(function()
	local names = freeswitch.getGlobalVariable("ringlb_track")
	if names == nil or names == "" then
		return
	end
	local track = require "ringlb.track"
	local act = track.action(function(h) return event:getHeader(h) end)
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
