-- ringlb_track.lua: count on ringlb's balancers every call a member carries,
-- not only those ringlb places (direct calls, calls agents place,
-- transfers, other applications). mod_lua runs it for the channel events of
-- lua.conf.xml's hooks (CHANNEL_CREATE, CHANNEL_ANSWER,
-- CHANNEL_HANGUP_COMPLETE), in a fresh Lua state each, with the global
-- `event`; and, from the user directory's
--   <param name="dial-var-execute_on_originate_ringlb" value="lua ringlb_track.lua originate"/>
-- on each new leg to a user, as it is made (the global `session`). The
-- global ringlb_track names the balancers (comma-separated). The rule and
-- what the switch carries: docs/tracking.md.
--
-- It runs for every event of every channel, so it decides from the headers
-- before it loads anything, and loads only ringlb itself to count. It never
-- raises into the switch; a missed release is healed by max_hold_age or the
-- lease.
local get
if event then
	get = function(h) return event:getHeader(h) end
elseif session and argv and argv[1] == "originate" then
	-- Once per leg: the switch would run it again on the answered leg when
	-- the originate that placed the user/ leg returns.
	session:setVariable("execute_on_originate_ringlb", nil)
	-- The leg's variables, as its CHANNEL_CREATE will carry them (the
	-- switch runs execute_on_originate on outbound legs only).
	local uuid = session:get_uuid()
	get = function(h)
		if h == "Event-Name" then
			return "CHANNEL_CREATE"
		elseif h == "Unique-ID" then
			return uuid
		elseif h == "Call-Direction" then
			return "outbound"
		end
		local name = h:match("^variable_(.+)$")
		return name and session:getVariable(name)
	end
else
	return
end

local op = ({ CHANNEL_CREATE = "count", CHANNEL_ANSWER = "answered", CHANNEL_HANGUP_COMPLETE = "release" })[get("Event-Name") or ""]
if not op then
	return
end
local names = freeswitch.getGlobalVariable("ringlb_track")
if names == nil or names == "" then
	return
end

local function present(v)
	return v ~= nil and v ~= "" and v ~= "_undef_"
end

-- The rule: an outbound leg to a user (dialed_user, or a FusionPBX ring
-- group's leg with dialed_extension and its presence_id), or an inbound
-- call a user places (user_name); ringlb's own legs (ringlb_dest) are the
-- ring helper's. A leg counts under its originating leg's uuid, so forked
-- registrations are one hold and a LOSE_RACE hang-up releases nothing.
local dir = get("Call-Direction")
local user, domain, call
if dir == "outbound" then
	if present(get("variable_ringlb_dest")) then
		return
	end
	user, domain = get("variable_dialed_user"), get("variable_dialed_domain")
	if not present(user) then
		local ext, edom = get("variable_dialed_extension"), get("variable_domain_name")
		if not (present(ext) and present(edom) and get("variable_presence_id") == ext .. "@" .. edom) then
			return
		end
		user, domain = ext, edom
	end
	call = get("variable_originating_leg_uuid")
elseif dir == "inbound" then
	user = get("variable_user_name")
	if not present(user) or present(get("variable_ringlb_dest")) then
		return
	end
	domain = get("variable_domain_name")
else
	return
end
if not present(call) then
	call = get("Unique-ID")
	if not present(call) then
		return
	end
end
if op == "release" and get("Hangup-Cause") == "LOSE_RACE" then
	return -- another leg of the same call to this user answered
end
-- Counted as user/NAME@DOMAIN; a balancer counts it as user/NAME unless
-- opened with user_domains=keep.
local member = "user/" .. user
if present(domain) then
	member = member .. "@" .. domain
end

local function log(level, msg)
	freeswitch.consoleLog(level, "ringlb_track: " .. msg .. "\n")
end

local ok, err = pcall(function()
	local ringlb = require "ringlb"
	for name in names:gmatch("[^,%s]+") do
		local b, oerr = ringlb.get(name)
		if not b then
			b, oerr = require("ringlb.options").open(name)
		end
		if not b then
			log("WARNING", "balancer " .. name .. ": " .. tostring(oerr))
		else
			-- A leg first seen at its answer (or whose count failed) counts then.
			local done, derr
			if op == "release" then
				done, derr = b:release(member, call)
			else
				done, derr = b:count(member, call)
				if done ~= nil and op == "answered" then
					done, derr = b:answered(member, call)
				end
			end
			if done == nil then
				log("WARNING", op .. " " .. member .. " for " .. call .. " on " .. name .. ": " .. tostring(derr))
			end
		end
	end
end)
if not ok then
	log("ERR", tostring(err))
end
