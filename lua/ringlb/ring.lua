-- ringlb.ring: ring groups inside FreeSWITCH (mod_lua), with holds kept by
-- a ringlb balancer.
--
--   local ring = require "ringlb.ring"
--   local b = ring.open("sales")               -- options from global variables
--   local dest, leg = ring.ring(session, {"user/1001", "user/1002"}, "balancing",
--                               {balancer = b, timeout = 20})
--   if not dest then freeswitch.consoleLog("INFO", "no agent: " .. leg .. "\n") end
--
-- ring.ring(session, dests, mode, opts) -> dest, leg | nil, reason, detail
--   mode     "parallel", "sequential" or "balancing"
--   opts.balancer          ringlb balancer (required for balancing)
--   opts.timeout           seconds each attempt rings (default 30)
--   opts.vars              channel variables for the legs {name = value}
--   opts.bridge            bridge the answered leg to the caller (default true)
--   opts.hangup_after_bridge  hang up the caller when the bridge ends
--                          (default true; false lets the script go on)
--   opts.on_backend_error  "fallback" (default: static list order, logged)
--                          or "fail" (return nil, "backend_error")
--   opts.events            fire CUSTOM ringlb::info events (default true,
--                          false when the global ringlb_events is "false")
--   opts.dnd               skip members whose user directory variable
--                          do_not_disturb is "true" (default true, false
--                          when the global ringlb_dnd is "false"); those
--                          skipped are logged and listed in the caller's
--                          variable ringlb_dnd_skipped
--   reasons  "no_answer", "all_busy", "failed", "caller_gone",
--            "backend_error", "invalid"; detail is a message or hangup cause.
--
-- Every rule of a ring (what is valid, which member to try next and holding
-- it, the reason from hangup causes, the dial string) is ringlb's, in Go:
-- this file keeps what must talk to the session.
--
-- Holds are keyed by the caller's uuid. Every hold taken is also written into
-- the caller's api_hangup_hook ("lua ringlb_release.lua <balancer> <uuid>
-- <dest>..."), which the switch runs when the caller hangs up even if this
-- script died; a release here and one there is harmless. If the dialplan
-- already uses api_hangup_hook, api_reporting_hook is used instead; an
-- operator's own hook is never overwritten. A member or balancer name that
-- would break that command (a space, quote, backslash or '$', or "::" at
-- its first ':', where the switch cuts it) is refused by ring_check.
local ringlb = require "ringlb"

local unpack = table.unpack or unpack -- 5.1 and LuaJIT have the global

local M = { _NAME = "ringlb.ring", _VERSION = ringlb._VERSION }

M.RELEASE_SCRIPT = "ringlb_release.lua"

local function log(level, msg)
	if freeswitch and freeswitch.consoleLog then
		freeswitch.consoleLog(level, "ringlb: " .. msg .. "\n")
	end
end

-- global returns a FreeSWITCH global variable (vars.xml), or nil.
local function global(name)
	if freeswitch and freeswitch.getGlobalVariable then
		local v = freeswitch.getGlobalVariable(name)
		if v ~= nil and v ~= "" then
			return v
		end
	end
	return nil
end

-- Balancer options that ring.open reads from global variables, as
-- option = variable suffix. ringlb_<name>_<suffix> wins over ringlb_<suffix>.
local GLOBAL_OPTIONS = {
	url = "url", tie = "tie", capacity = "capacity", max_hold_age = "max_hold_age",
	key_prefix = "key_prefix", lease = "lease", timeout = "redis_timeout", node = "node",
	wrapup = "wrapup", fewest_half_life = "fewest_half_life", user_domains = "user_domains",
}

-- options returns the options of balancer name from global variables. Both
-- the ring script and the hangup hook (a fresh Lua state without the call's
-- variables) read them here, so both open the balancer alike.
function M.options(name)
	local opts = {}
	for opt, suffix in pairs(GLOBAL_OPTIONS) do
		opts[opt] = global("ringlb_" .. name .. "_" .. suffix) or global("ringlb_" .. suffix)
	end
	return opts
end

-- open returns the process-wide balancer called name, opened with the
-- options of M.options(name) unless opts are given. It returns nil, err,
-- code on failure.
function M.open(name, opts)
	if type(name) ~= "string" or name == "" then
		return nil, "ringlb: ring: balancer name must be a non-empty string", "invalid"
	end
	return ringlb.open(name, opts or M.options(name))
end

-- metrics starts the Prometheus endpoint at the address of the global
-- variable ringlb_metrics (host:port), once per process: ringlb_startup.lua
-- (mod_lua's startup-script) calls it as the switch starts, ringlb_ring.lua
-- on each ring in case the endpoint is not up yet (no startup script, or the
-- port was taken at start). It returns the address listened on, nil when
-- ringlb_metrics is unset, or nil, err, code. It logs nothing: ringlb logs a
-- failure once for the process, and again only when the endpoint comes up.
function M.metrics()
	local addr = global("ringlb_metrics")
	if not addr then
		return nil
	end
	return ringlb.metrics(addr)
end

-- find returns the balancer called name for the release and status scripts:
-- the one already open in this process whatever its options (ringlb.get),
-- else one opened with M.options(name).
function M.find(name)
	local b = ringlb.get(name)
	if b then
		return b
	end
	return M.open(name)
end

-- check checks the Lua values it is given and has ringlb check the ring; it
-- returns the members to ring and the attempt timeout, or nil and why not.
local function check(session, dests, mode, opts)
	if type(session) ~= "userdata" and type(session) ~= "table" then
		return nil, "ringlb: ring: session must be the caller's session"
	end
	if opts.vars ~= nil and type(opts.vars) ~= "table" then
		return nil, "ringlb: ring: vars must be a table"
	end
	local bname
	if opts.balancer ~= nil then
		local ok, name = pcall(function() return opts.balancer:name() end)
		if not ok or type(name) ~= "string" then
			return nil, "ringlb: ring: opts.balancer is not a ringlb balancer"
		end
		bname = name
	end
	return ringlb.ring_check(mode, dests, opts.timeout, opts.on_backend_error, bname)
end

-- HOOK_VARS are the channel variables FreeSWITCH runs as one API command
-- when a channel hangs up: api_hangup_hook in the hangup state, then
-- api_reporting_hook in the reporting state. Each is read by its exact name
-- (switch_core_state_machine.c), so there is no adding a second command to
-- one of them.
M.HOOK_VARS = { "api_hangup_hook", "api_reporting_hook" }

-- ours reports whether a hook value is empty or ringlb's own.
local function ours(v)
	return v == nil or v == "" or v:sub(1, #M.RELEASE_SCRIPT + 5) == "lua " .. M.RELEASE_SCRIPT .. " "
end

-- Call is the state of one ring: the holds it has, kept in step with the
-- caller's hangup hook.
local Call = {}
Call.__index = Call

-- hook_var picks the hook variable for this call: api_hangup_hook unless the
-- operator's dialplan already uses it, then api_reporting_hook. When both
-- are taken, ringlb overwrites neither: holds are still released after the
-- bridge, and a crash is covered by max_hold_age (memory) or the lease
-- (Redis) instead.
function Call:hook_var()
	if self.hookvar == nil then
		self.hookvar = false
		for _, var in ipairs(M.HOOK_VARS) do
			if ours(self.session:getVariable(var)) then
				self.hookvar = var
				break
			end
		end
		if not self.hookvar then
			log("WARNING", "api_hangup_hook and api_reporting_hook are both in use on " .. self.uuid
				.. "; ringlb sets no release hook (a hold left by a crash lapses after max_hold_age or its lease)")
		end
	end
	return self.hookvar
end

function Call:set_hook()
	local var = self:hook_var()
	if not var then
		return
	end
	local held = {}
	for _, d in ipairs(self.order) do
		if self.held[d] then
			held[#held + 1] = d
		end
	end
	if #held == 0 then
		self.session:setVariable(var, "")
	else
		self.session:setVariable(var, "lua " .. M.RELEASE_SCRIPT .. " " .. self.bname
			.. " " .. self.uuid .. " " .. table.concat(held, " "))
	end
end

function Call:hold(dest)
	if not self.held[dest] then
		self.held[dest] = true
		self.order[#self.order + 1] = dest
	end
	self:set_hook()
end

-- release drops the hold on dest; a backend error leaves it to the hook
-- (and, with Redis, to the lease).
function Call:release(dest)
	if not self.held[dest] then
		return
	end
	local ok, err = self.b:release(dest, self.uuid)
	if ok == nil then
		log("WARNING", "release " .. dest .. " for " .. self.uuid .. ": " .. tostring(err) .. " (the hangup hook retries)")
		return
	end
	self.held[dest] = nil
	self:set_hook()
end

function Call:release_all(except)
	for _, d in ipairs(self.order) do
		if self.held[d] and d ~= except then
			self:release(d)
		end
	end
end

-- event fires a CUSTOM ringlb::info event, so that ESL consumers can follow
-- group calls: Ringlb-Action (ring-start, attempt, attempt-failed, answered,
-- fallback, ring-end), the balancer, mode and call, and fields.
function Call:event(action, fields)
	if not self.events then
		return
	end
	local ok, err = pcall(function()
		local e = freeswitch.Event("CUSTOM", "ringlb::info")
		e:addHeader("Ringlb-Action", action)
		e:addHeader("Ringlb-Balancer", self.bname or "")
		e:addHeader("Ringlb-Mode", self.mode)
		e:addHeader("Ringlb-Call-UUID", self.uuid)
		for k, v in pairs(fields or {}) do
			e:addHeader(k, tostring(v))
		end
		e:fire()
	end)
	if not ok then
		log("WARNING", "event " .. action .. ": " .. tostring(err))
	end
end

-- backend handles a failed balancer call: it returns the ring's result when
-- the ring must stop, or nil to go on without the balancer.
function Call:backend(what, err)
	if self.policy == "fail" then
		self:release_all()
		return { nil, "backend_error", err }
	end
	log("WARNING", what .. ": " .. tostring(err) .. "; ringing in list order without the balancer")
	self:event("fallback", { ["Ringlb-Reason"] = tostring(err) })
	self.b:fallback() -- counted for the metrics; nothing to do if it fails
	self.b_ok = false
	return nil
end

-- dialstring builds the dial string of one attempt; each leg gets
-- [ringlb_dest=<dest>] so the answered leg tells which member it is.
function Call:dialstring(legs)
	return ringlb.dialstring(legs, ",", self.vars, nil, "ringlb_dest")
end

-- attempt rings legs at once and returns dest, leg when one answers, else
-- nil, cause.
function Call:attempt(legs)
	local ds, err = self:dialstring(legs)
	if not ds then
		return nil, "INVALID", err
	end
	self:event("attempt", { ["Ringlb-Members"] = table.concat(legs, ",") })
	local leg = freeswitch.Session(ds, self.session)
	if leg and leg:ready() and leg:answered() then
		local dest = leg:getVariable("ringlb_dest")
		if dest == nil or dest == "" then
			dest = legs[1]
		end
		return dest, leg
	end
	local cause = leg and leg:hangupCause() or "UNKNOWN"
	self:event("attempt-failed", { ["Ringlb-Members"] = table.concat(legs, ","), ["Ringlb-Reason"] = cause })
	return nil, cause
end

-- answered finishes a ring whose leg answered: mark the hold talking,
-- bridge, then release.
function Call:answered(dest, leg)
	self:event("answered", { ["Ringlb-Member"] = dest })
	if self.b then
		self:release_all(dest) -- losers stop counting as soon as the winner answers
		if self.held[dest] then
			local ok, err = self.b:answered(dest, self.uuid)
			if ok == nil then
				log("WARNING", "answered " .. dest .. " for " .. self.uuid .. ": " .. tostring(err))
			end
		end
	end
	self.session:setVariable("ringlb_answered_dest", dest)
	if not self.bridge then
		return dest, leg -- the hold stays until the caller hangs up (the hook)
	end
	freeswitch.bridge(self.session, leg)
	if self.b then
		self:release(dest)
	end
	if leg:ready() then
		leg:hangup("NORMAL_CLEARING")
	end
	-- freeswitch.bridge, unlike the bridge app, leaves the caller up when
	-- the member hangs up; do what hangup_after_bridge promises.
	if self.session:ready() and self.session:getVariable("hangup_after_bridge") == "true" then
		self.session:hangup("NORMAL_CLEARING")
	end
	return dest, leg
end

local function remove(list, value)
	for i = #list, 1, -1 do
		if list[i] == value then table.remove(list, i) end
	end
end

-- pick has ringlb choose and hold the member to try next out of remaining
-- (members passed over as full are dropped from it, each an AT_CAPACITY
-- cause); it returns dest, or nil, stop (a result table) / nil, nil when
-- nothing is left.
function Call:pick(remaining, causes)
	if not (self.b and self.b_ok) then
		return remaining[1]
	end
	local d, skipped, code = self.b:pick(self.mode, remaining, self.uuid)
	if d == nil then
		local err = skipped
		if code == "backend" then
			local stop = self:backend("pick", err)
			if stop then return nil, stop end
			return remaining[1]
		end
		self:release_all()
		return nil, { nil, "invalid", err }
	end
	for _, s in ipairs(skipped) do
		causes[#causes + 1] = "AT_CAPACITY"
		remove(remaining, s)
	end
	if d then
		self:hold(d)
		return d
	end
	return nil
end

function Call:one_at_a_time()
	local remaining = {}
	for i, d in ipairs(self.members) do remaining[i] = d end
	local causes = {}
	while #remaining > 0 do
		if not self.session:ready() then
			self:release_all()
			return nil, "caller_gone", "caller hung up"
		end
		local dest, stop = self:pick(remaining, causes)
		if stop then return unpack(stop, 1, 3) end
		if not dest then break end
		remove(remaining, dest)
		local won, leg_or_cause, detail = self:attempt({ dest })
		if won then
			return self:answered(won, leg_or_cause)
		end
		self:release(dest)
		if leg_or_cause == "INVALID" then
			self:release_all()
			return nil, "invalid", detail
		end
		causes[#causes + 1] = leg_or_cause
		if not self.session:ready() then
			self:release_all()
			return nil, "caller_gone", leg_or_cause
		end
	end
	return nil, ringlb.ring_reason(causes)
end

function Call:all_at_once()
	local legs, causes = {}, {}
	if self.b and self.b_ok then
		-- ringing counts as load: every member offered is held first
		local states, err, code = self.b:hold_all(self.members, self.uuid)
		if not states then
			self:release_all()
			return nil, "invalid", err
		end
		for i, d in ipairs(self.members) do
			if states[i] == "held" then
				self:hold(d)
				legs[#legs + 1] = d
			elseif states[i] == "skipped" then
				causes[#causes + 1] = "AT_CAPACITY"
			else
				legs[#legs + 1] = d
			end
		end
		if code == "backend" then
			local stop = self:backend("acquire", err)
			if stop then return unpack(stop, 1, 3) end
		end
	else
		for i, d in ipairs(self.members) do legs[i] = d end
	end
	if #legs == 0 then
		return nil, ringlb.ring_reason(causes)
	end
	if not self.session:ready() then
		self:release_all()
		return nil, "caller_gone", "caller hung up"
	end
	local won, leg_or_cause, detail = self:attempt(legs)
	if won then
		return self:answered(won, leg_or_cause)
	end
	self:release_all()
	if leg_or_cause == "INVALID" then
		return nil, "invalid", detail
	end
	if not self.session:ready() then
		return nil, "caller_gone", leg_or_cause
	end
	causes[#causes + 1] = leg_or_cause
	return nil, ringlb.ring_reason(causes)
end

-- dnd_user returns the user@domain whose directory entry tells whether
-- member dest is on do-not-disturb, or nil when dest is not a user.
local function dnd_user(session, dest)
	local user, domain = dest:match("^user/([^@/]+)@?(.*)$")
	if not user then
		return nil
	end
	if domain == "" then
		domain = session:getVariable("domain_name") or global("domain") or ""
	end
	return user .. "@" .. domain
end

-- without_dnd returns members without those on do-not-disturb (user_data
-- reads the directory, as FusionPBX's ring groups do), and those skipped.
local function without_dnd(session, members)
	local api = freeswitch.API()
	local keep, skipped = {}, {}
	for _, d in ipairs(members) do
		local u = dnd_user(session, d)
		local v = u and api:execute("user_data", u .. " var do_not_disturb")
		if v and v:lower():match("^%s*true%s*$") then
			skipped[#skipped + 1] = d
		else
			keep[#keep + 1] = d
		end
	end
	return keep, skipped
end

--- ring rings dests for the caller's session; see the top of this file.
function M.ring(session, dests, mode, opts)
	opts = opts or {}
	if type(opts) ~= "table" then
		return nil, "invalid", "ringlb: ring: opts must be a table"
	end
	local members, timeout = check(session, dests, mode, opts)
	if not members then
		return nil, "invalid", timeout
	end
	if not session:ready() then
		return nil, "caller_gone", "caller hung up"
	end
	if opts.dnd ~= false and global("ringlb_dnd") ~= "false" then
		local skipped
		members, skipped = without_dnd(session, members)
		session:setVariable("ringlb_dnd_skipped", table.concat(skipped, ","))
		if #skipped > 0 then
			log("INFO", "do not disturb: " .. table.concat(skipped, ", ") .. " skipped for " .. session:get_uuid())
		end
		if #members == 0 then
			return nil, "all_busy", "do_not_disturb"
		end
	end
	local vars = { ignore_early_media = "true" }
	for k, v in pairs(opts.vars or {}) do vars[k] = v end
	vars.originate_timeout = tostring(timeout)
	local c = setmetatable({
		session = session, members = members, mode = mode, vars = vars,
		b = opts.balancer, b_ok = opts.balancer ~= nil,
		bname = opts.balancer and opts.balancer:name(),
		policy = opts.on_backend_error or "fallback",
		bridge = opts.bridge ~= false,
		uuid = session:get_uuid(), held = {}, order = {},
		events = opts.events ~= false and global("ringlb_events") ~= "false",
	}, Call)
	-- A failed attempt must not hang up the caller, and the caller's leg
	-- ends with the bridged call.
	session:setVariable("continue_on_fail", "true")
	session:setVariable("hangup_after_bridge", opts.hangup_after_bridge == false and "false" or "true")
	c:event("ring-start", { ["Ringlb-Members"] = table.concat(members, ",") })
	local dest, leg_or_reason, detail
	if mode == "parallel" then
		dest, leg_or_reason, detail = c:all_at_once()
	else
		dest, leg_or_reason, detail = c:one_at_a_time()
	end
	if dest then
		c:event("ring-end", { ["Ringlb-Result"] = "answered", ["Ringlb-Member"] = dest })
	else
		c:event("ring-end", { ["Ringlb-Result"] = tostring(leg_or_reason), ["Ringlb-Reason"] = tostring(detail) })
	end
	return dest, leg_or_reason, detail
end

--- release drops the hold that ring.ring left for dest when called with
-- bridge = false, once the caller is done with the leg. The hangup hook does
-- it anyway when the caller hangs up.
function M.release(session, balancer, dest)
	local ok, err, code = balancer:release(dest, session:get_uuid())
	for _, var in ipairs(M.HOOK_VARS) do
		local v = session:getVariable(var)
		if v ~= nil and v ~= "" and ours(v) then
			session:setVariable(var, "")
		end
	end
	return ok, err, code
end

return M
