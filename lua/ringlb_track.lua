-- ringlb_track.lua: count on ringlb's balancers every call a member carries,
-- not only those ringlb places (direct calls, calls agents place,
-- transfers, other applications). The global ringlb_track names the
-- balancers (comma-separated); the rule and what the switch carries:
-- docs/tracking.md. It runs in one of three ways:
--
--   <param name="startup-script" value="ringlb_track.lua consume"/>
--     in lua.conf.xml (shipped): one Lua state for the life of the switch,
--     in a thread of its own, takes CHANNEL_CREATE, CHANNEL_ANSWER and
--     CHANNEL_HANGUP_COMPLETE from the switch's event core through ringlb
--     (ringlb.switch_events: only the events of legs that may be a user's,
--     only the headers read here), and returns only as the switch stops;
--   <hook event="CHANNEL_CREATE" script="ringlb_track.lua"/> (and ANSWER,
--     HANGUP_COMPLETE) in lua.conf.xml: a fresh Lua state per event, with
--     the global `event`. A state costs the switch more than the work done
--     in it, six per call (docs/tracking.md, "What the tracker costs"), so
--     the consumer leaves the tracking to such hooks when they are bound;
--   <param name="dial-var-execute_on_originate_ringlb" value="lua ringlb_track.lua originate"/>
--     in the user directory: on each new leg to a user, as it is made (the
--     global `session`), so that it counts before the leg rings.
--
-- It decides from the headers before it loads anything, and loads only
-- ringlb itself to count. It never raises into the switch; a missed release
-- is healed by max_hold_age or the lease.

-- OPS maps the channel events tracked to what each does to a hold.
local OPS = { CHANNEL_CREATE = "count", CHANNEL_ANSWER = "answered", CHANNEL_HANGUP_COMPLETE = "release" }

local function log(level, msg)
	freeswitch.consoleLog(level, "ringlb_track: " .. msg .. "\n")
end

local function present(v)
	return v ~= nil and v ~= "" and v ~= "_undef_"
end

-- balancers keeps the balancers this Lua state found, by name: the
-- consumer's state lives as long as the switch; one that fails a call is
-- found anew for the next event.
local balancers = {}

-- balancer returns the process-wide balancer called name, opened with the
-- global options the first time (ringlb.options), or nil, err.
local function balancer(name)
	local b = balancers[name]
	if b then
		return b
	end
	local err
	b, err = require("ringlb").get(name)
	if not b then
		b, err = require("ringlb.options").open(name)
	end
	balancers[name] = b or nil
	return b, err
end

-- track applies the rule to one channel event whose headers get(name)
-- returns.
--
-- The rule: an outbound leg to a user (dialed_user, or a FusionPBX ring
-- group's leg with dialed_extension and its presence_id), or an inbound
-- call a user places (user_name); ringlb's own legs (ringlb_dest) are the
-- ring helper's. A leg counts under its originating leg's uuid, so forked
-- registrations are one hold and a LOSE_RACE hang-up releases nothing.
local function track(get)
	local op = OPS[get("Event-Name") or ""]
	if not op then
		return
	end
	local names = freeswitch.getGlobalVariable("ringlb_track")
	if names == nil or names == "" then
		return
	end
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
	for name in names:gmatch("[^,%s]+") do
		local b, oerr = balancer(name)
		if not b then
			log("WARNING", "balancer " .. name .. ": " .. tostring(oerr))
		else
			local done, derr
			if op == "release" then
				done, derr = b:release(member, call)
			elseif op == "count" then
				done, derr = b:count(member, call)
			else
				-- Mostly its CREATE counted the leg: one call marks it talking.
				-- A leg first seen at its answer (or whose count failed) counts
				-- now (false: not held, or talking already; count is a no-op then).
				done, derr = b:answered(member, call)
				if done == false then
					done, derr = b:count(member, call)
					if done ~= nil then
						done, derr = b:answered(member, call)
					end
				end
			end
			if done == nil then
				balancers[name] = nil -- found anew for the next event
				log("WARNING", op .. " " .. member .. " for " .. call .. " on " .. name .. ": " .. tostring(derr))
			end
		end
	end
end

local function run(get)
	local ok, err = pcall(track, get)
	if not ok then
		log("ERR", tostring(err))
	end
end

-- hooked reports whether lua.conf.xml binds this script to a tracked
-- channel event as a hook.
local function hooked()
	local conf = freeswitch.API():execute("xml_locate", "configuration configuration name lua.conf") or ""
	for hook in conf:gmatch("<hook%s[^>]*>") do
		local ev = hook:match('event%s*=%s*"([^"]*)"')
		if ev and OPS[ev] and hook:find("ringlb_track.lua", 1, true) then
			return true
		end
	end
	return false
end

-- CONSUMER_GC is how many events mod_lua's consumer takes between two full
-- collections of its Lua state: an event it has taken holds the switch's
-- copy of it (all the channel's variables) until its userdata is
-- collected, which Lua alone would do only as its own small heap grows.
local CONSUMER_GC = 100

-- tracking reports whether the global ringlb_track names any balancer.
local function tracking()
	local names = freeswitch.getGlobalVariable("ringlb_track")
	return names ~= nil and names ~= ""
end

-- HEADERS are the headers track reads, and ANY those of them one of which
-- a user's leg carries (see track): what the switch's event core copies for
-- the consumer.
local HEADERS = { "Event-Name", "Unique-ID", "Call-Direction", "Hangup-Cause", "variable_ringlb_dest",
	"variable_dialed_user", "variable_dialed_domain", "variable_dialed_extension", "variable_domain_name",
	"variable_presence_id", "variable_originating_leg_uuid", "variable_user_name" }
local ANY = { "variable_dialed_user", "variable_dialed_extension", "variable_user_name" }

-- copied reports an event's header h from e, a table of the HEADERS it
-- had; a header track reads that HEADERS lacks is an error (logged by run),
-- never a silent nil.
local WANTED = {}
for _, h in ipairs(HEADERS) do
	WANTED[h] = true
end
local function copied(e, h)
	if not WANTED[h] then
		error("ringlb_track.lua reads " .. h .. ", which HEADERS does not copy", 0)
	end
	return e[h]
end

-- consume_from runs the rule on each event taken while the switch runs and
-- ringlb_track is set. take() waits up to a second for the next event and
-- returns a function that reads its headers, or nil; done() lets the
-- events go once it stops.
local function consume_from(take, done)
	log("INFO", "counting calls that do not go through ringlb")
	while freeswitch.running() and tracking() do
		local get = take()
		if get then
			run(get)
		end
	end
	done() -- no more events copied for this state
	return true
end

-- consume_source takes the events from src, a source of ringlb's
-- (ringlb.switch_events): the switch's event core hands it only the events
-- of channels that may be a user's, with only the headers above.
local function consume_source(src)
	local dropped = 0
	return consume_from(function()
		local e = src:pop(1000)
		if e then
			return function(h)
				return copied(e, h)
			end
		end
		local d = src:dropped()
		if d and d > dropped then
			log("WARNING", string.format("%d channel events dropped (queue full, or over 16 KB): calls may be "
				.. "counted wrongly until max_hold_age heals them", d - dropped))
			dropped = d
		end
	end, function() src:close() end)
end

-- consume_copies takes them from mod_lua's freeswitch.EventConsumer, for a
-- host whose event core ringlb cannot bind to (code "unsupported"): the
-- switch copies every tracked event into its queue, with all the channel's
-- variables.
local function consume_copies()
	local events = freeswitch.EventConsumer()
	for ev in pairs(OPS) do
		if events:bind(ev, "") ~= 1 then
			events:cleanup()
			log("ERR", "cannot take " .. ev .. " events: calls that do not go through ringlb are not counted")
			return false
		end
	end
	local taken = 0
	return consume_from(function()
		local e = events:pop(1, 1000)
		if e then
			taken = taken + 1
			if taken % CONSUMER_GC == 0 then
				collectgarbage()
			end
			return function(h)
				return e:getHeader(h)
			end
		end
	end, function() events:cleanup() end)
end

-- consume_while takes the tracked channel events while the switch runs and
-- ringlb_track is set: from the switch's event core through ringlb where it
-- can, else from mod_lua's event consumer.
local function consume_while()
	local events = {}
	for ev in pairs(OPS) do
		events[#events + 1] = ev
	end
	local src, err, code = require("ringlb").switch_events({ events = events, headers = HEADERS, any = ANY })
	if src then
		return consume_source(src)
	elseif code == "unsupported" then
		return consume_copies()
	end
	log("ERR", "cannot take channel events: " .. tostring(err) .. "; calls that do not go through ringlb are not counted")
	return false
end

-- consume tracks the channel events of the whole switch in this one state
-- until the switch stops. While ringlb_track is unset it takes no events
-- (the switch copies none for it) and looks again every second.
local function consume()
	if hooked() then
		log("NOTICE", "lua.conf.xml hooks ringlb_track.lua to channel events, so the hooks track calls and this "
			.. "consumer stops; remove the three <hook> lines to track calls in one Lua state")
		return
	end
	while freeswitch.running() do
		if not tracking() then
			freeswitch.msleep(1000)
		elseif not consume_while() then
			return
		elseif freeswitch.running() then
			log("INFO", "ringlb_track is unset: not counting calls until it is set again")
		end
	end
end

if event then
	run(function(h) return event:getHeader(h) end)
elseif session and argv and argv[1] == "originate" then
	-- Once per leg: the switch would run it again on the answered leg when
	-- the originate that placed the user/ leg returns.
	session:setVariable("execute_on_originate_ringlb", nil)
	-- The leg's variables, as its CHANNEL_CREATE will carry them (the
	-- switch runs execute_on_originate on outbound legs only).
	local uuid = session:get_uuid()
	run(function(h)
		if h == "Event-Name" then
			return "CHANNEL_CREATE"
		elseif h == "Unique-ID" then
			return uuid
		elseif h == "Call-Direction" then
			return "outbound"
		end
		local name = h:match("^variable_(.+)$")
		return name and session:getVariable(name)
	end)
elseif argv and argv[1] == "consume" then
	-- Each event is counted under pcall (run); mod_lua logs any other error.
	consume()
end
