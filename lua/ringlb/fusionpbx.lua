-- ringlb.fusionpbx: the "balancing" strategy of FusionPBX ring groups.
--
-- FusionPBX's ring group dialplan runs `lua app.lua ring_groups` with the
-- channel variable ring_group_uuid set; app.lua loads FusionPBX's config
-- (the global `database`, `scripts_dir`, ...) and runs the ring group script
-- app/ring_groups/index.lua. `ringlb-fusionpbx on` adds one line at the top
-- of that script:
--
--   local ringlb_ok, ringlb_fpbx = pcall(require, "ringlb.fusionpbx") ...
--   ... if ringlb_ok and ringlb_fpbx.ring_group(session) then return end
--
-- ring_group(session) reads the group's strategy and returns false at once
-- for every strategy but "balancing", so FusionPBX's script rings those as
-- it always did. A balancing group is rung here, start to end:
--
--   * members one at a time, least loaded first (ringlb's holds, ties,
--     wrap-up and capacity), counted on one balancer shared by every
--     balancing group of the switch (default name "fusionpbx"), as
--     user/<extension>@<domain>, so tenants never share a member and the
--     call tracker (ringlb_track.lua) counts the members' other calls;
--   * what FusionPBX does for its members, read from the same tables and
--     directory variables: do-not-disturb drops a member, call-forward-all
--     is followed (3 hops), a member's follow-me destinations ring together
--     in that member's turn, an unregistered member goes to its
--     forward_user_not_registered destination, each destination rings for
--     its destination_timeout, prompts and call screening ask the member to
--     confirm (a member counts as answered once confirmed);
--   * the group: ring group forward, greeting, caller ID prefixes, ringback,
--     distinctive ring, exit key, wait announcements, the overall call
--     timeout by elapsed time, the timeout action, missed-call e-mails,
--     the CUSTOM RING_GROUPS event, presence.
--
-- The ring itself (which member next and for how long, holds and the
-- release hook, the overall timeout by the switch's clock, what the backend
-- failing does, the result, ringlb::info events) is ringlb.ring's, as for
-- every ringlb ring group; this module says who the members are and does
-- what FusionPBX does around the ring.
--
-- Options of the balancer come from global variables as for every ringlb
-- script (ringlb.options): ringlb_fusionpbx_url (Redis, several switches),
-- ringlb_fusionpbx_wrapup, ringlb_fusionpbx_capacity, ... Members are
-- counted as user/<extension>@<domain>, so FusionPBX's balancer has
-- user_domains=keep by default, for the ring and the call tracker alike; a
-- balancer set to user_domains=ignore is refused and the group rings in list
-- order, logging why.
local ringlb = require "ringlb"
local ring = require "ringlb.ring"
local options = require "ringlb.options"

local M = { _NAME = "ringlb.fusionpbx", _VERSION = ringlb._VERSION }

-- STRATEGY is the ring_group_strategy value this module rings.
M.STRATEGY = "balancing"

-- BALANCER is the default balancer name; the global variable
-- ringlb_fusionpbx_balancer names another.
M.BALANCER = options.FUSIONPBX

-- MAX_FORWARDS is how many call-forward-all hops are followed, as FusionPBX.
M.MAX_FORWARDS = 3

-- DEFAULT_CALL_TIMEOUT is the group's call timeout when it has none
-- (FusionPBX's default).
M.DEFAULT_CALL_TIMEOUT = 300

local function log(level, msg)
	freeswitch.consoleLog(level, "ringlb_fusionpbx: " .. msg .. "\n")
end

-- truthy reads a FusionPBX boolean as any database returns it.
local function truthy(v)
	v = type(v) == "string" and v:lower() or v
	return v == true or v == "true" or v == "t" or v == "1" or v == 1
end

-- present reports whether an API answer or column holds a value ("" and
-- "-ERR ..." do not).
local function present(v)
	return type(v) == "string" and v ~= "" and v:sub(1, 4) ~= "-ERR" and v ~= "_undef_"
end

local function trim(s)
	return (tostring(s or ""):gsub("^%s+", ""):gsub("%s+$", ""))
end

local global = options.global

-- balancer_name is the name of the balancer every balancing group counts on.
function M.balancer_name()
	return options.fusionpbx()
end

----------------------------------------------------------------------------
-- Database: as FusionPBX's default ("native") backend does, freeswitch.Dbh
-- on the DSN that FusionPBX's config.lua puts in database.system.

local DB = {}
DB.__index = DB

-- database opens the FusionPBX database (dsn, else the global
-- database.system); it returns the handle, or nil and why not.
function M.database(dsn)
	if dsn == nil and type(database) == "table" then
		dsn = database.system
	end
	if type(dsn) ~= "string" or dsn == "" then
		return nil, "no FusionPBX database (database.system is not set: is this run from FusionPBX's app.lua?)"
	end
	local dbh = freeswitch.Dbh(dsn)
	if not dbh or not dbh:connected() then
		return nil, "cannot connect to the FusionPBX database"
	end
	return setmetatable({ dbh = dbh }, DB)
end

local function quote(v)
	if type(v) == "number" then
		return tostring(v)
	end
	return "'" .. tostring(v):gsub("'", "''") .. "'"
end

-- query runs sql with :name parameters from params and calls cb(row) for
-- each row; it returns true, or false and the error.
function DB:query(sql, params, cb)
	local missing
	sql = sql:gsub(":([%a_][%w_]*)", function(name)
		local v = params and params[name]
		if v == nil then
			missing = name
			return nil
		end
		return quote(v)
	end)
	if missing then
		return false, "no value for :" .. missing
	end
	local ok = self.dbh:query(sql, cb or function() end)
	if not ok then
		return false, tostring(self.dbh:last_error() or "query failed")
	end
	return true
end

-- rows returns every row of a query, or nil and the error.
function DB:rows(sql, params)
	local out = {}
	local ok, err = self:query(sql, params, function(row)
		out[#out + 1] = row
		return 0
	end)
	if not ok then
		return nil, err
	end
	return out
end

function DB:release()
	if self.dbh then
		self.dbh:release()
		self.dbh = nil
	end
end

-- The queries: tables and columns as FusionPBX's app_config.php define
-- them. Booleans are read as text, so PostgreSQL and SQLite both answer.
local SQL_STRATEGY = [[
SELECT ring_group_strategy FROM v_ring_groups WHERE ring_group_uuid = :ring_group_uuid]]

local SQL_GROUP = [[
SELECT r.ring_group_uuid, r.domain_uuid, d.domain_name, r.ring_group_name, r.ring_group_extension,
 r.ring_group_strategy, cast(r.ring_group_enabled as text) AS ring_group_enabled,
 r.ring_group_greeting, r.ring_group_call_timeout, r.ring_group_timeout_app, r.ring_group_timeout_data,
 r.ring_group_exit_key, cast(r.ring_group_forward_enabled as text) AS ring_group_forward_enabled,
 r.ring_group_forward_destination, r.ring_group_forward_toll_allow,
 r.ring_group_caller_id_name, r.ring_group_caller_id_number,
 r.ring_group_cid_name_prefix, r.ring_group_cid_number_prefix,
 cast(r.ring_group_call_screen_enabled as text) AS ring_group_call_screen_enabled,
 cast(r.ring_group_call_forward_enabled as text) AS ring_group_call_forward_enabled,
 cast(r.ring_group_follow_me_enabled as text) AS ring_group_follow_me_enabled,
 r.ring_group_missed_call_app, r.ring_group_missed_call_data,
 r.ring_group_ringback, r.ring_group_distinctive_ring,
 r.ring_group_wait_announcement, r.ring_group_wait_interval
FROM v_ring_groups AS r, v_domains AS d
WHERE r.ring_group_uuid = :ring_group_uuid AND r.domain_uuid = d.domain_uuid]]

local SQL_GROUP_BY_EXTENSION = [[
SELECT r.ring_group_uuid FROM v_ring_groups AS r, v_domains AS d
WHERE r.ring_group_extension = :extension AND d.domain_name = :domain AND r.domain_uuid = d.domain_uuid]]

local SQL_DESTINATIONS = [[
SELECT destination_number, destination_delay, destination_timeout, destination_prompt,
 cast(destination_enabled as text) AS destination_enabled
FROM v_ring_group_destinations WHERE ring_group_uuid = :ring_group_uuid
ORDER BY destination_delay, destination_number]]

local SQL_USER = [[
SELECT user_uuid FROM v_ring_group_users WHERE ring_group_uuid = :ring_group_uuid]]

local SQL_FOLLOW_ME = [[
SELECT follow_me_uuid FROM v_extensions
WHERE domain_uuid = :domain_uuid AND (extension = :number OR number_alias = :number)]]

local SQL_FOLLOW_ME_DESTINATIONS = [[
SELECT follow_me_destination, follow_me_delay, follow_me_timeout, follow_me_prompt
FROM v_follow_me_destinations WHERE follow_me_uuid = :follow_me_uuid ORDER BY follow_me_order]]

local SQL_MISSED_TEMPLATE = [[
SELECT domain_uuid, template_subject, template_body, cast(template_enabled as text) AS template_enabled
FROM v_email_templates
WHERE (domain_uuid = :domain_uuid OR domain_uuid IS NULL) AND template_language = :language
 AND template_category = 'missed']]

----------------------------------------------------------------------------
-- Directory: FreeSWITCH's user directory, read through the API commands
-- FusionPBX's ring group uses.

local Dir = {}
Dir.__index = Dir

function M.directory(api)
	return setmetatable({ api = api or freeswitch.API() }, Dir)
end

function Dir:exists(number, domain)
	return trim(self.api:execute("user_exists", "id " .. number .. " " .. domain)) == "true"
end

function Dir:var(number, domain, name)
	local v = trim(self.api:execute("user_data", number .. "@" .. domain .. " var " .. name))
	if present(v) then
		return v
	end
	return nil
end

-- id returns the user's id (an alias answers its extension).
function Dir:id(number, domain)
	local v = trim(self.api:execute("user_data", number .. "@" .. domain .. " attr id"))
	if present(v) then
		return v
	end
	return number
end

function Dir:registered(number, domain)
	local v = trim(self.api:execute("sofia_contact", "*/" .. number .. "@" .. domain))
	return present(v) and not v:find("^error/")
end

----------------------------------------------------------------------------
-- Group and members.

-- load returns the ring group's row, or nil (no such group) or nil, err.
function M.load(db, ring_group_uuid)
	local rows, err = db:rows(SQL_GROUP, { ring_group_uuid = ring_group_uuid })
	if not rows then
		return nil, err
	end
	return rows[1]
end

-- A number that can be part of a member key or a hook argument.
local function plain(s)
	return type(s) == "string" and s ~= "" and not s:find("[%s%c,|'\"\\{}%[%]]")
end

-- split returns number, domain of "number[@domain]".
local function split(dest, domain)
	local n, d = dest:match("^([^@]+)@(.+)$")
	if n then
		return n, d
	end
	return dest, domain
end

-- endpoint returns how FusionPBX reaches a destination: a user of the
-- domain through the directory, an endpoint string as written, anything
-- else (a phone number) through the dialplan with loopback.
local function endpoint(number, domain, is_user)
	if is_user then
		return "user/" .. number .. "@" .. domain
	elseif number:find("/", 1, true) then
		return number
	end
	return "loopback/" .. number
end

-- forward_all follows call-forward-all from number, at most MAX_FORWARDS
-- hops, as FusionPBX does; it returns the number that rings.
local function forward_all(dir, number, domain)
	for _ = 1, M.MAX_FORWARDS do
		if not dir:exists(number, domain) or not truthy(dir:var(number, domain, "forward_all_enabled")) then
			break
		end
		local to = dir:var(number, domain, "forward_all_destination")
		if not plain(to) then
			break
		end
		number = to
	end
	return number
end

-- leg returns one leg {endpoint=, vars=} of a member's turn.
function M.leg(g, ctx, number, domain, is_user, prompt)
	local vars = {
		domain_name = domain, domain_uuid = g.domain_uuid, sip_invite_domain = domain,
	}
	if is_user then
		vars.dialed_extension = number
		vars.presence_id = number .. "@" .. domain
		vars.call_direction = ctx.call_direction
	else
		vars.call_direction = "outbound"
		if present(g.ring_group_caller_id_name) then
			vars.origination_caller_id_name = g.ring_group_caller_id_name
		end
		if present(g.ring_group_caller_id_number) then
			vars.origination_caller_id_number = g.ring_group_caller_id_number
		end
	end
	if prompt or ctx.screen then
		-- FusionPBX's confirm script: the member hears the caller's name
		-- (screening) or a prompt and presses 1 to take the call.
		vars.group_confirm_key = "exec"
		vars.group_confirm_file = "lua " .. ctx.scripts_dir .. "/confirm.lua"
		vars.confirm = "true"
	end
	return { endpoint = endpoint(number, domain, is_user), vars = vars }
end

-- follow_me returns the legs of a member's follow-me destinations: each
-- starts after its delay and rings for its own timeout, within the turn.
local function follow_me(db, dir, g, ctx, number, domain, turn)
	local rows = db:rows(SQL_FOLLOW_ME, { domain_uuid = g.domain_uuid, number = number })
	local fm = rows and rows[1] and rows[1].follow_me_uuid
	if not present(fm) then
		return nil
	end
	local dests = db:rows(SQL_FOLLOW_ME_DESTINATIONS, { follow_me_uuid = fm })
	local legs = {}
	for _, f in ipairs(dests or {}) do
		local n, d = split(trim(f.follow_me_destination), domain)
		local delay = tonumber(f.follow_me_delay) or 0
		local timeout = tonumber(f.follow_me_timeout) or turn
		if plain(n) and timeout > 0 and delay < turn then
			local is_user = dir:exists(n, d)
			if is_user then n = dir:id(n, d) end
			local leg = M.leg(g, ctx, n, d, is_user, f.follow_me_prompt == "1" or f.follow_me_prompt == "2")
			leg.vars.leg_timeout = tostring(math.min(delay + timeout, turn))
			if delay > 0 then
				leg.vars.leg_delay_start = tostring(delay)
			end
			legs[#legs + 1] = leg
		end
	end
	if #legs == 0 then
		return nil
	end
	return legs
end

-- members returns the group's members in FusionPBX's order (delay, then
-- number), each {key=, timeout=, legs={...}}, and the keys of those left
-- out for do-not-disturb.
function M.members(db, dir, g, ctx)
	local rows, err = db:rows(SQL_DESTINATIONS, { ring_group_uuid = g.ring_group_uuid })
	if not rows then
		return nil, err
	end
	local members, dnd, seen = {}, {}, {}
	for _, row in ipairs(rows) do
		local timeout = math.floor(tonumber(row.destination_timeout) or 0)
		local number, domain = split(trim(row.destination_number), g.domain_name)
		if truthy(row.destination_enabled) and timeout > 0 and plain(number) and plain(domain) then
			local is_user = dir:exists(number, domain)
			if is_user then number = dir:id(number, domain) end
			-- FusionPBX's members are extensions of the domain: counted
			-- as the call tracker names users.
			local key = is_user and ("user/" .. number .. "@" .. domain) or (number .. "@" .. domain)
			local prompt = row.destination_prompt == "1" or row.destination_prompt == "2"
			-- Who rings: forwards first, then do-not-disturb of that user.
			local target, target_user = number, is_user
			if is_user and truthy(g.ring_group_call_forward_enabled) then
				target = forward_all(dir, number, domain)
				if target ~= number then
					target_user = dir:exists(target, domain)
					if target_user then target = dir:id(target, domain) end
				end
			end
			if target_user and truthy(dir:var(target, domain, "do_not_disturb")) then
				dnd[#dnd + 1] = key
			elseif not seen[key] then
				seen[key] = true
				if target_user and not dir:registered(target, domain)
					and truthy(dir:var(target, domain, "forward_user_not_registered_enabled")) then
					local to = dir:var(target, domain, "forward_user_not_registered_destination")
					if plain(to) then
						target = to
						target_user = dir:exists(to, domain)
					end
				end
				local legs
				if target_user and truthy(g.ring_group_follow_me_enabled)
					and truthy(dir:var(target, domain, "follow_me_enabled")) then
					legs = follow_me(db, dir, g, ctx, target, domain, timeout)
				end
				members[#members + 1] = {
					key = key, timeout = timeout,
					legs = legs or { M.leg(g, ctx, target, domain, target_user, prompt) },
				}
			end
		end
	end
	return members, dnd
end

----------------------------------------------------------------------------
-- What FusionPBX does around the ring, for one call (Call: the session,
-- the group's row, the database, the directory, the context).

local Call = {}
Call.__index = Call

-- record starts recording the call as FusionPBX does for an extension whose
-- user_record setting covers this call's direction; key is the member that
-- answered.
function Call:record(key)
	local number, domain = key:match("^user/([^@]+)@(.+)$")
	if not number then
		return
	end
	local rec = self.dir:var(number, domain, "user_record")
	local dir = self.ctx.call_direction
	if rec == "all" or rec == dir then
		local path = self.ctx.record_path .. "/" .. self.ctx.record_name
		self.session:setVariable("record_stereo", "true")
		self.session:setVariable("record_path", self.ctx.record_path)
		self.session:setVariable("record_name", self.ctx.record_name)
		self.api:execute("uuid_record", self.uuid .. " start " .. path)
	end
end

local function send_presence(uuid, from, state)
	local e = freeswitch.Event("PRESENCE_IN")
	e:addHeader("Unique-ID", uuid)
	e:addHeader("proto", "any")
	e:addHeader("from", from)
	e:addHeader("login", from)
	e:addHeader("event_type", "presence")
	e:addHeader("alt_event_type", "dialog")
	e:addHeader("Presence-Call-Direction", "outbound")
	e:addHeader("answer-state", state)
	e:fire()
end

-- ring_groups_event fires FusionPBX's CUSTOM RING_GROUPS event.
function Call:ring_groups_event(status)
	local h = {
		domain_uuid = self.g.domain_uuid, domain_name = self.g.domain_name,
		ring_group_uuid = self.g.ring_group_uuid, user_uuid = self.ctx.user_uuid,
		ring_group_name = self.g.ring_group_name, ring_group_extension = self.g.ring_group_extension,
		status = status, call_uuid = self.uuid,
		caller_id_name = self.ctx.caller_id_name, caller_id_number = self.ctx.caller_id_number,
	}
	local list = {}
	for _, k in ipairs({ "domain_uuid", "domain_name", "ring_group_uuid", "user_uuid", "ring_group_name",
		"ring_group_extension", "status", "call_uuid", "caller_id_name", "caller_id_number" }) do
		list[#list + 1] = k
		list[#list + 1] = tostring(h[k] or "")
	end
	local ok, err = ring.fire_custom("RING_GROUPS", list)
	if not ok then
		log("WARNING", "RING_GROUPS event: " .. tostring(err))
	end
end

-- missed sends the group's missed-call e-mail through FusionPBX's own mail
-- function (its e-mail queue), with FusionPBX's "missed" template.
function Call:missed()
	self.session:setVariable("missed_call", "true")
	local g = self.g
	if g.ring_group_missed_call_app ~= "email" or not present(g.ring_group_missed_call_data) then
		return
	end
	local lang = (self.session:getVariable("default_language") or "en") .. "-"
		.. (self.session:getVariable("default_dialect") or "us")
	local rows = self.db:rows(SQL_MISSED_TEMPLATE, { domain_uuid = g.domain_uuid, language = lang }) or {}
	local tpl
	for _, r in ipairs(rows) do
		-- the domain's own template wins over the default one
		if truthy(r.template_enabled) and (not tpl or (present(r.domain_uuid) and not present(tpl.domain_uuid))) then
			tpl = r
		end
	end
	if not tpl then
		log("WARNING", "no enabled missed-call e-mail template for " .. lang .. "; none sent")
		return
	end
	local values = {
		caller_id_name = self.ctx.caller_id_name, caller_id_number = self.ctx.caller_id_number,
		ring_group_name = g.ring_group_name, ring_group_extension = g.ring_group_extension,
		sip_to_user = g.ring_group_name, dialed_user = g.ring_group_extension,
		destination_number = self.ctx.destination_number,
	}
	local function fill(s)
		return (tostring(s or ""):gsub("%${([%w_]+)}", function(k)
			local v = values[k]
			return v and tostring(v):gsub("%%", "%%%%") or nil
		end))
	end
	-- FusionPBX's mail function reads these globals when loaded.
	domain_name, domain_uuid = g.domain_name, g.domain_uuid
	local ok, send_mail = pcall(require, "resources.functions.send_mail")
	if not ok or type(send_mail) ~= "function" then
		log("ERR", "missed-call e-mail: FusionPBX's resources.functions.send_mail: " .. tostring(send_mail))
		return
	end
	local headers = {
		["X-FusionPBX-Domain-UUID"] = g.domain_uuid, ["X-FusionPBX-Domain-Name"] = g.domain_name,
		["X-FusionPBX-Call-UUID"] = self.uuid, ["X-FusionPBX-Email-Type"] = "missed",
	}
	local sent, err = pcall(send_mail, headers, nil, g.ring_group_missed_call_data,
		{ "=?utf-8?B?" .. M.base64(trim(fill(tpl.template_subject))) .. "?=", trim(fill(tpl.template_body)) })
	if not sent then
		log("ERR", "missed-call e-mail: " .. tostring(err))
	end
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- base64 encodes s (RFC 2047 encoded-word subjects, as FusionPBX sends them).
function M.base64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = s:byte(i, i + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local q = {}
		for j = 3, 0, -1 do
			local x = math.floor(n / 64 ^ j) % 64
			q[#q + 1] = B64:sub(x + 1, x + 1)
		end
		if not b then q[3], q[4] = "=", "=" elseif not c then q[4] = "=" end
		out[#out + 1] = table.concat(q)
	end
	return table.concat(out)
end

-- play plays a greeting: a file path or a sound URI as given, else a
-- recording of the domain.
local function play(session, ctx, domain, file)
	if file:find("^/") or file:find("^%a[%w_]*:") then
		session:streamFile(file)
	else
		session:streamFile(ctx.recordings_dir .. "/" .. domain .. "/" .. file)
	end
end

-- forward sends the call to the ring group's forward destination, as
-- FusionPBX does when ring group forward is on.
local function forward(session, g, ctx)
	local cid_name = present(g.ring_group_caller_id_name) and g.ring_group_caller_id_name or ctx.caller_id_name
	local cid_number = present(g.ring_group_caller_id_number) and g.ring_group_caller_id_number or ctx.caller_id_number
	if cid_name then
		session:setVariable("effective_caller_id_name", cid_name)
		session:setVariable("outbound_caller_id_name", cid_name)
	end
	if cid_number then
		session:setVariable("effective_caller_id_number", cid_number)
		session:setVariable("outbound_caller_id_number", cid_number)
	end
	if present(g.ring_group_forward_toll_allow) then
		session:setVariable("toll_allow", g.ring_group_forward_toll_allow)
	end
	session:execute("transfer", g.ring_group_forward_destination .. " XML " .. ctx.context)
end

-- prepare does what FusionPBX does before ringing: call timeout, exit key,
-- greeting, wait announcements, call screening, caller ID prefixes,
-- ringback, distinctive ring.
local function prepare(session, api, g, ctx)
	session:setVariable("call_timeout", tostring(ctx.call_timeout))
	if present(g.ring_group_timeout_app) and present(g.ring_group_timeout_data) then
		local key = present(g.ring_group_exit_key) and g.ring_group_exit_key or "9"
		session:execute("bind_digit_action", "local," .. key .. ",exec:" .. g.ring_group_timeout_app .. ","
			.. g.ring_group_timeout_data .. ",both,self")
	end
	local answered = false
	if present(g.ring_group_greeting) then
		session:answer()
		answered = true
		session:sleep(1000)
		play(session, ctx, g.domain_name, g.ring_group_greeting)
		session:sleep(1000)
	end
	if present(g.ring_group_wait_announcement) then
		if not answered then session:answer() end
		answered = true
		local interval = tonumber(g.ring_group_wait_interval) or 30
		session:setVariable("ring_group_wait_announcement", g.ring_group_wait_announcement)
		session:setVariable("ring_group_wait_interval", tostring(interval))
		session:setVariable("ring_group_wait_domain_name", g.domain_name)
		session:setVariable("ring_group_wait_domain_uuid", g.domain_uuid)
		api:executeString("sched_api +" .. interval .. " " .. ctx.uuid .. " lua " .. ctx.scripts_dir
			.. "/app/ring_groups/resources/scripts/wait_announcement.lua " .. ctx.uuid)
	end
	if ctx.screen then
		-- The caller records their name; FusionPBX's confirm script plays it
		-- to the member (it looks for call_screen.<uuid>.<ext> by date).
		if not answered then session:answer() end
		session:execute("playback", "phrase:voicemail_record_name")
		session:streamFile("tone_stream://L=1;%(1000, 0, 640)")
		session:recordFile(ctx.record_path .. "/call_screen." .. ctx.uuid .. "." .. ctx.record_ext, 30, 200, 3)
	end
	if present(g.ring_group_cid_name_prefix) then
		session:execute("export", "effective_caller_id_name=" .. g.ring_group_cid_name_prefix .. "#" .. (ctx.caller_id_name or ""))
	end
	if present(g.ring_group_cid_number_prefix) then
		session:execute("export", "effective_caller_id_number=" .. g.ring_group_cid_number_prefix .. (ctx.caller_id_number or ""))
	end
	if present(g.ring_group_ringback) then
		local rb = g.ring_group_ringback
		if not rb:find("[/:%$]") then
			rb = "${" .. rb .. "}" -- a tone name of vars.xml, e.g. us-ring
		end
		session:setVariable("ringback", rb)
		session:setVariable("transfer_ringback", rb)
	end
	if present(g.ring_group_distinctive_ring) then
		local dr = g.ring_group_distinctive_ring:gsub("%${domain_name}", g.domain_name)
		if ctx.local_ip_v4 then dr = dr:gsub("%${local_ip_v4}", ctx.local_ip_v4) end
		session:execute("export", "sip_h_Alert-Info=" .. dr)
	end
end

-- open_balancer opens the shared balancer; it returns it, or nil and why
-- the group rings in list order instead.
local function open_balancer(name)
	local opts = options.get(name)
	if opts.user_domains ~= "keep" then
		return nil, "set the global variable ringlb_" .. name .. "_user_domains=keep, or unset it (FusionPBX is "
			.. "multi-tenant: members are counted as user/<extension>@<domain>)"
	end
	return ringlb.open(name, opts)
end

-- context gathers what the ring needs from the caller's channel and
-- FusionPBX's config globals.
local function context(session, g)
	local v = function(k) local x = session:getVariable(k); if x ~= "" then return x end end
	local ctx = {
		uuid = session:get_uuid(),
		caller_id_name = v("effective_caller_id_name") or v("caller_id_name"),
		caller_id_number = v("effective_caller_id_number") or v("caller_id_number"),
		destination_number = v("destination_number"),
		context = v("context") or g.domain_name,
		call_direction = v("call_direction") or "local",
		local_ip_v4 = v("local_ip_v4"),
		scripts_dir = (type(scripts_dir) == "string" and scripts_dir or global("script_dir") or ""):gsub("\\", "/"),
		recordings_dir = v("recordings_dir") or (type(recordings_dir) == "string" and recordings_dir)
			or global("recordings_dir") or "",
		record_ext = v("record_ext") or "wav",
		call_timeout = tonumber(g.ring_group_call_timeout) or M.DEFAULT_CALL_TIMEOUT,
		screen = truthy(g.ring_group_call_screen_enabled),
	}
	ctx.record_path = ctx.recordings_dir .. "/" .. g.domain_name .. "/archive/" .. os.date("%Y/%b/%d")
	ctx.record_name = ctx.uuid .. "." .. ctx.record_ext
	return ctx
end

-- run_group rings balancing group g for the caller (the group's row, read).
local function run_group(session, db, g)
	local api = freeswitch.API()
	local dir = M.directory(api)
	local ctx = context(session, g)
	local rows = db:rows(SQL_USER, { ring_group_uuid = g.ring_group_uuid })
	ctx.user_uuid = rows and rows[#rows] and rows[#rows].user_uuid or ""
	local function finish(result, detail)
		session:setVariable("ringlb_result", result)
		session:setVariable("ringlb_result_detail", detail or "")
	end
	if not truthy(g.ring_group_enabled) then
		log("NOTICE", "ring group " .. g.ring_group_extension .. "@" .. g.domain_name .. " is disabled")
		finish("disabled")
		return
	end
	if truthy(g.ring_group_forward_enabled) and present(g.ring_group_forward_destination) then
		finish("forwarded", g.ring_group_forward_destination)
		forward(session, g, ctx)
		return
	end
	prepare(session, api, g, ctx)
	local members, dnd = M.members(db, dir, g, ctx)
	if not members then
		log("ERR", "ring group " .. g.ring_group_uuid .. ": " .. tostring(dnd))
		members, dnd = {}, {}
	end
	for _, k in ipairs(dnd) do
		members[#members + 1] = { key = k, dnd = true }
	end
	local c = setmetatable({ session = session, api = api, dir = dir, db = db, g = g, ctx = ctx, uuid = ctx.uuid }, Call)
	local name = M.balancer_name()
	local mode = "balancing"
	local b, err = open_balancer(name)
	if not b then
		log("ERR", "balancer " .. name .. ": " .. tostring(err) .. "; ringing in list order")
		mode = "sequential"
	end
	local label = "ring group " .. g.ring_group_extension .. "@" .. g.domain_name
	local presence = session:getVariable("ring_group_send_presence") == "true"
	local pid = g.ring_group_extension .. "@" .. g.domain_name
	if presence then
		session:setVariable("presence_id", pid)
		send_presence(ctx.uuid, pid, "early")
	end
	local result, detail
	if #members == 0 then
		result, detail = "all_busy", "no members"
		finish(result, detail)
	else
		-- Members are rung one at a time, each for its destination
		-- timeout, and the group's call timeout runs by elapsed time from
		-- the first ring: the last turn is cut to what is left.
		local okrun, dest, res, det = pcall(ring.ring, session, members, mode, {
			balancer = b, deadline = ctx.call_timeout, dnd = false, vars = { instant_ringback = "true" },
			on_attempt = function(keys, secs)
				log("NOTICE", label .. ": " .. keys .. " for " .. secs .. " s")
			end,
			before_bridge = function(_, key)
				log("NOTICE", label .. ": answered by " .. key .. " (" .. ctx.uuid .. ")")
				c:record(key)
			end,
		})
		if not okrun then
			log("ERR", "ring group " .. g.ring_group_uuid .. ": " .. tostring(dest))
			ring.release_hook(session)
			result, detail = "failed", tostring(dest)
			finish(result, detail)
		elseif dest then
			result = "answered"
		else
			result, detail = res, det
		end
	end
	if presence then
		session:setVariable("presence_id", "")
		send_presence(ctx.uuid, pid, "terminated")
	end
	if result == "answered" then
		c:ring_groups_event("answered")
		return
	end
	log("INFO", label .. ": " .. tostring(result) .. " (" .. tostring(detail) .. ")")
	c:ring_groups_event("missed")
	c:missed()
	if session:ready() and present(g.ring_group_timeout_app) then
		session:execute(g.ring_group_timeout_app, g.ring_group_timeout_data or "")
	end
end

-- ring_group is what FusionPBX's ring group script calls first: it rings
-- the group whose ring_group_uuid the caller's channel carries if its
-- strategy is "balancing" and returns true; for any other strategy (or no
-- group, or no database) it returns false and FusionPBX's script goes on.
-- It never raises.
function M.ring_group(session)
	if not session or not session:ready() then
		return false
	end
	local uuid = session:getVariable("ring_group_uuid")
	if not present(uuid) then
		return false
	end
	local db, err = M.database()
	if not db then
		log("ERR", tostring(err))
		return false
	end
	local handled = false
	local ok, perr = pcall(function()
		local rows, qerr = db:rows(SQL_STRATEGY, { ring_group_uuid = uuid })
		if not rows then
			error(qerr)
		end
		if not rows[1] or trim(rows[1].ring_group_strategy) ~= M.STRATEGY then
			return
		end
		local g, gerr = M.load(db, uuid)
		if not g then
			error(gerr or ("no ring group " .. uuid))
		end
		handled = true
		run_group(session, db, g)
	end)
	db:release()
	if not ok then
		log("ERR", "ring group " .. tostring(uuid) .. ": " .. tostring(perr))
	end
	return handled
end

-- status returns the operator's view of one ring group: its members (as
-- the group rings them now) with their calls on the balancer.
function M.status(db, group)
	local uuid = group
	local ext, dom = group:match("^([^@]+)@(.+)$")
	if ext then
		local rows = db:rows(SQL_GROUP_BY_EXTENSION, { extension = ext, domain = dom }) or {}
		if not rows[1] then
			return nil, "no ring group " .. group
		end
		uuid = rows[1].ring_group_uuid
	end
	local g, err = M.load(db, uuid)
	if not g then
		return nil, err or ("no ring group " .. group)
	end
	local members, dnd = M.members(db, M.directory(), g, { scripts_dir = "", call_direction = "local" })
	if not members then
		return nil, dnd
	end
	local name = M.balancer_name()
	local lines = { string.format("ring group %s@%s (%s), strategy %s, balancer %s",
		g.ring_group_extension, g.domain_name, g.ring_group_name, g.ring_group_strategy, name) }
	local b, berr = ring.find(name)
	local snap = b and b:snapshot()
	local by = {}
	for _, d in ipairs(snap and snap.destinations or {}) do by[d.dest] = d end
	if not snap then
		lines[#lines + 1] = "balancer: " .. tostring(berr)
	end
	lines[#lines + 1] = string.format("%-36s %6s %7s %7s %8s %s", "MEMBER", "ACTIVE", "RINGING", "TALKING", "ANSWERED", "LEGS")
	for _, m in ipairs(members) do
		local d = by[m.key] or {}
		local legs = {}
		for _, l in ipairs(m.legs) do legs[#legs + 1] = l.endpoint end
		lines[#lines + 1] = string.format("%-36s %6d %7d %7d %8d %s", m.key, d.active or 0, d.ringing or 0,
			d.talking or 0, d.answered or 0, table.concat(legs, ","))
	end
	for _, k in ipairs(dnd) do
		local d = by[k] or {}
		lines[#lines + 1] = string.format("%-36s %6d %7d %7d %8d %s", k, d.active or 0, d.ringing or 0,
			d.talking or 0, d.answered or 0, "(do not disturb)")
	end
	return table.concat(lines, "\n") .. "\n"
end

return M
