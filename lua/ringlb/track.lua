-- ringlb.track: which member a channel event loads, and how. The rule only:
-- ringlb_track.lua (the event hook) applies it to the balancers.
--
--   local track = require "ringlb.track"
--   local act = track.action(function(h) return event:getHeader(h) end)
--   -- act = nil (nothing to do) or
--   -- { op = "count"|"answered"|"release", member = "user/1001@example.com",
--   --   call = "<uuid>", why = "dialed_user" | "dialed_extension" | "user_name" }
--
-- What the switch carries (docs/tracking.md, seen in FreeSWITCH 1.10.12):
--   * A leg to a user, from bridge/originate of user/NAME[@DOMAIN]: an
--     outbound channel with variable_dialed_user and variable_dialed_domain
--     from CHANNEL_CREATE on, and variable_originating_leg_uuid when a
--     channel placed it. The caller's own leg gets dialed_user too, but it
--     is inbound: only outbound legs count on dialed_user.
--   * A call a user places: an inbound channel authenticated as the user
--     (digest or ACL), with variable_user_name and variable_domain_name
--     from CHANNEL_CREATE on.
--   * Legs placed by ringlb's ring helper carry variable_ringlb_dest: the
--     helper holds them already, keyed by the caller's uuid.
--   * FusionPBX's ring groups (strategies other than rollover) dial a
--     member's registered contact (sofia/...), not user/NAME: the leg has
--     no dialed_user but carries [dialed_extension=NAME, domain_name=DOMAIN,
--     presence_id=NAME@DOMAIN], which counts as a leg to that user.
-- Keys: a leg to a user is counted under its originating leg's uuid when it
-- has one, so the legs of a forked registration (one INVITE per device)
-- are one hold; when one of them answers the others end with LOSE_RACE,
-- which releases nothing.
--
-- Events reach the hook after the leg exists, through the switch's event
-- thread: milliseconds later, more when that thread is busy, and a ring
-- group may offer the member a call meanwhile. A leg to a user can also be
-- counted as the switch makes it, before it rings: the user directory's
--   <param name="dial-var-execute_on_originate_ringlb" value="lua ringlb_track.lua originate"/>
-- has the switch run ringlb_track.lua on the new leg (the global `session`),
-- on the originating thread, before the leg's INVITE; M.leg answers for it
-- as that leg's CHANNEL_CREATE will.
local M = { _NAME = "ringlb.track" }

-- ORIGINATE_VAR is the channel variable that runs ringlb_track.lua as a leg
-- to a user is made (set from the directory's dial-var- parameter).
M.ORIGINATE_VAR = "execute_on_originate_ringlb"

-- EVENTS are the channel events the hook handles, with what each does.
M.EVENTS = {
	CHANNEL_CREATE = "count",
	CHANNEL_ANSWER = "answered",
	CHANNEL_HANGUP_COMPLETE = "release",
}

local function present(v)
	return v ~= nil and v ~= "" and v ~= "_undef_"
end

-- member names a user as its ring groups do: user/NAME@DOMAIN (the
-- balancer counts it as user/NAME unless opened with user_domains=keep).
function M.member(user, domain)
	if present(domain) then
		return "user/" .. user .. "@" .. domain
	end
	return "user/" .. user
end

-- action returns what the event whose headers get(name) returns means for
-- the load, or nil.
function M.action(get)
	local op = M.EVENTS[get("Event-Name") or ""]
	if not op then
		return nil
	end
	if present(get("variable_ringlb_dest")) then
		return nil -- ringlb's own leg: held by the ring helper
	end
	local uuid = get("Unique-ID")
	if not present(uuid) then
		return nil
	end
	local dir = get("Call-Direction")
	local user, domain, call, why
	local ext, edom = get("variable_dialed_extension"), get("variable_domain_name")
	if dir == "outbound" and present(get("variable_dialed_user")) then
		user, domain, why = get("variable_dialed_user"), get("variable_dialed_domain"), "dialed_user"
	elseif dir == "outbound" and present(ext) and present(edom) and get("variable_presence_id") == ext .. "@" .. edom then
		user, domain, why = ext, edom, "dialed_extension"
	end
	if user then
		call = get("variable_originating_leg_uuid")
		if not present(call) then
			call = uuid
		end
	elseif dir == "inbound" and present(get("variable_user_name")) then
		user, domain, why = get("variable_user_name"), get("variable_domain_name"), "user_name"
		call = uuid
	else
		return nil
	end
	if op == "release" and get("Hangup-Cause") == "LOSE_RACE" then
		return nil -- another leg of the same call to this user answered
	end
	return { op = op, member = M.member(user, domain), call = call, why = why }
end

-- leg returns a header getter that answers for a leg being originated, whose
-- channel variables var(name) returns, as the leg's CHANNEL_CREATE event
-- will: the switch runs execute_on_originate only on outbound legs.
function M.leg(uuid, var)
	return function(h)
		if h == "Event-Name" then
			return "CHANNEL_CREATE"
		elseif h == "Unique-ID" then
			return uuid
		elseif h == "Call-Direction" then
			return "outbound"
		end
		local name = h:match("^variable_(.+)$")
		return name and var(name)
	end
end

return M
