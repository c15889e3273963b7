-- ringlb.ring: ring groups inside FreeSWITCH (mod_lua), with holds kept by a
-- ringlb balancer. The entry scripts (ringlb_ring.lua, FusionPBX's
-- strategy) use it; so can any dialplan Lua script:
--
--   local ring = require "ringlb.ring"
--   local dest, leg, detail = ring.ring(session, {"user/1001", "user/1002"}, "balancing",
--                                       {balancer = "sales", timeout = 20})
--
-- ring.ring(session, members, mode, opts) -> dest, leg | nil, result, detail, summary
-- (README "Ring groups in the dialplan" and docs/events.md say it all).
--   members  member keys ("user/1001"), or tables {key=, timeout=, legs=, dnd=}
--            whose legs are endpoints or {endpoint=, vars={...}} (what the
--            member's turn dials; none: the key itself)
--   mode     "parallel", "sequential" or "balancing", any case
--   opts.balancer   a ringlb balancer, or the name of one to open with the
--                   options of ringlb.options (balancing needs one)
--   opts.no_holds   ring parallel or sequential without holds
--   opts.timeout, opts.deadline, opts.on_backend_error, opts.vars
--   opts.bridge (true), opts.hangup_after_bridge (true), opts.events (true),
--   opts.dnd        true (user directory lookups), false, or function(key)
--   opts.before_bridge(session, key, leg), opts.on_attempt(keys, seconds)
--
-- Every rule (what is valid, the plan, which member next and for how long,
-- holding it, the result) is ringlb's, in Go: this file dispatches on the
-- plan and keeps what talks to the session: originate, bridge, hangup hook,
-- channel variables, do-not-disturb lookups and events.
local ringlb = require "ringlb"
local options = require "ringlb.options"

local M = { _NAME = "ringlb.ring", _VERSION = ringlb._VERSION }

local unpack = table.unpack or unpack -- 5.1 and LuaJIT have the global

M.RELEASE_SCRIPT = "ringlb_release.lua"

-- HOOK_VARS are the channel variables FreeSWITCH runs as one API command
-- when a channel hangs up: api_hangup_hook, then api_reporting_hook. Each
-- is read by its exact name, so there is no adding a second command to one.
M.HOOK_VARS = { "api_hangup_hook", "api_reporting_hook" }

-- Balancer options from global variables, shared with every entry script.
M.options, M.open, M.find, M.metrics = options.get, options.open, options.find, options.metrics

local function log(level, msg)
	if freeswitch and freeswitch.consoleLog then
		freeswitch.consoleLog(level, "ringlb: " .. msg .. "\n")
	end
end

-- ours reports whether a hook value is empty or ringlb's own.
local function ours(v)
	return v == nil or v == "" or v:sub(1, #M.RELEASE_SCRIPT + 5) == "lua " .. M.RELEASE_SCRIPT .. " "
end

----------------------------------------------------------------------------
-- Holds: the members a call holds, kept in step with the caller's hangup
-- hook, "lua ringlb_release.lua <balancer> <uuid> <key>,<key>...", which the
-- switch runs when the caller hangs up even if the script died (a release
-- here and one there is harmless). If the dialplan already uses
-- api_hangup_hook, api_reporting_hook is used; an operator's own hook is
-- never overwritten. The keys are one word: mod_lua passes a script at most
-- 128 words.

local Holds = {}
Holds.__index = Holds

-- holds returns the hold set of the call uuid on balancer b.
function M.holds(session, b, uuid)
	return setmetatable({ session = session, b = b, bname = b:name(), uuid = uuid, held = {}, order = {} }, Holds)
end

function Holds:hook_var()
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

function Holds:set_hook()
	local var = self:hook_var()
	if not var then
		return
	end
	local keys = {}
	for _, k in ipairs(self.order) do
		if self.held[k] then keys[#keys + 1] = k end
	end
	if #keys == 0 then
		self.session:setVariable(var, "")
	else
		self.session:setVariable(var, "lua " .. M.RELEASE_SCRIPT .. " " .. self.bname .. " " .. self.uuid
			.. " " .. table.concat(keys, ","))
	end
end

-- add records a hold the balancer took for the call.
function Holds:add(key)
	if not self.held[key] then
		self.held[key] = true
		self.order[#self.order + 1] = key
	end
	self:set_hook()
end

-- release drops the hold on key; a backend error leaves it to the hook (and,
-- with Redis, to the lease). unanswered says that the member's leg rang
-- out: the balancer backs the member off (b:unanswered).
function Holds:release(key, unanswered)
	if not self.held[key] then
		return
	end
	local ok, err
	if unanswered then
		ok, err = self.b:unanswered(key, self.uuid)
	else
		ok, err = self.b:release(key, self.uuid)
	end
	if ok == nil then
		log("WARNING", "release " .. key .. " for " .. self.uuid .. ": " .. tostring(err) .. " (the hangup hook retries)")
		return
	end
	self.held[key] = nil
	self:set_hook()
end

function Holds:release_all(except)
	for _, k in ipairs(self.order) do
		if self.held[k] and k ~= except then
			self:release(k)
		end
	end
end

-- answered turns the hold on key from ringing to talking.
function Holds:answered(key)
	if not self.held[key] then
		return
	end
	local ok, err = self.b:answered(key, self.uuid)
	if ok == nil then
		log("WARNING", "answered " .. key .. " for " .. self.uuid .. ": " .. tostring(err))
	end
end

----------------------------------------------------------------------------
-- One ring.

local Ring = {}
Ring.__index = Ring

-- fire_custom fires a CUSTOM event of subclass with the headers of list
-- { name, value, name, value, ... }, in order: through ringlb, in one call
-- into the switch's event core, or with mod_lua's freeswitch.Event in a
-- host without one. It returns true, or nil and why not.
function M.fire_custom(subclass, list)
	local ok, err, code = ringlb.fire_event(subclass, list)
	if ok or code ~= "unsupported" then
		return ok, err
	end
	ok, err = pcall(function()
		local e = freeswitch.Event("CUSTOM", subclass)
		for i = 1, #list, 2 do
			e:addHeader(list[i], list[i + 1])
		end
		e:fire()
	end)
	if not ok then
		return nil, err
	end
	return true
end

-- event fires a CUSTOM ringlb::info event (docs/events.md).
function Ring:event(action, fields)
	if not self.events then
		return
	end
	local list = { "Ringlb-Action", action, "Ringlb-Balancer", self.bname or "", "Ringlb-Mode", self.mode or "",
		"Ringlb-Call-UUID", self.uuid or "" }
	for k, v in pairs(fields or {}) do
		list[#list + 1] = k
		list[#list + 1] = tostring(v)
	end
	local ok, err = M.fire_custom("ringlb::info", list)
	if not ok then
		log("WARNING", "event " .. action .. ": " .. tostring(err))
	end
end

local function keys_of(members)
	local ks = {}
	for i, m in ipairs(members) do ks[i] = m.key end
	return table.concat(ks, ",")
end

-- finish ends the ring: the result into the caller's channel variables and
-- the ring-end event; it returns what ring.ring returns.
function Ring:finish(result, detail, summary, leg)
	local s = self.session
	if self.session_ok then
		s:setVariable("ringlb_result", result)
		s:setVariable("ringlb_result_detail", detail or "")
		s:setVariable("ringlb_result_summary", summary or "")
		s:setVariable("ringlb_dnd_skipped", table.concat(self.dnd, ","))
	end
	if #self.dnd > 0 then
		log("INFO", "do not disturb: " .. table.concat(self.dnd, ", ") .. " skipped for " .. self.uuid)
	end
	local f = { ["Ringlb-Result"] = result, ["Ringlb-Rang"] = self.rang }
	if result == "answered" then
		f["Ringlb-Member"] = detail
		self:event("ring-end", f)
		return detail, leg
	end
	f["Ringlb-Reason"], f["Ringlb-Summary"] = detail, summary
	self:event("ring-end", f)
	if result == "invalid" then
		log("ERR", tostring(detail))
	end
	return nil, result, detail, summary
end

-- stop ends a ring that got no answer, named by ringlb from what it did.
function Ring:stop(stop)
	if self.holds then
		self.holds:release_all()
	end
	local result, detail, summary = ringlb.ring_result({ causes = self.causes, full = self.full,
		dnd = #self.dnd, stop = stop })
	return self:finish(result, detail, summary)
end

-- backend handles a failed balancer call: it returns true when the ring
-- must stop (policy fail), else goes on without the balancer.
function Ring:backend(what, err)
	if self.plan.on_backend_error == "fail" then
		if self.holds then self.holds:release_all() end
		return true
	end
	log("WARNING", what .. " on " .. self.bname .. ": " .. tostring(err) .. "; ringing in list order without the balancer")
	self:event("fallback", { ["Ringlb-Reason"] = tostring(err) })
	if self.b then
		self.b:fallback() -- counted for the metrics; nothing to do if it fails
	end
	self.b_ok = false
	return false
end

-- is_dnd reports, once per member per call, whether it is on do-not-disturb.
function Ring:is_dnd(key)
	if not self.dnd_check then
		return false
	end
	local v = self.dnd_seen[key]
	if v == nil then
		v = self.dnd_check(key) and true or false
		self.dnd_seen[key] = v
	end
	return v
end

-- skip_dnd leaves out a member on do-not-disturb, and marks it away in the
-- balancer: when a later call finds it back, it rejoins at its group's
-- mean score rather than ahead of everyone (b:away).
function Ring:skip_dnd(key)
	self.dnd[#self.dnd + 1] = key
	if self.b and self.b_ok then
		local ok, err = self.b:away(key)
		if ok == nil then
			log("WARNING", "away " .. key .. " on " .. tostring(self.bname) .. ": " .. tostring(err))
		end
	end
	self:event("skipped", { ["Ringlb-Members"] = key, ["Ringlb-Reason"] = "do_not_disturb" })
end

function Ring:skip_full(members)
	self.full = self.full + #members
	self:event("skipped", { ["Ringlb-Members"] = keys_of(members), ["Ringlb-Reason"] = "at_capacity" })
end

-- dialstring returns the dial string that rings members (all their legs at
-- once) for secs, or nil, err: the plan's for one member's whole timeout,
-- which saves a call into ringlb per turn, else one ringlb builds.
function Ring:dialstring(members, secs)
	if #members == 1 and members[1].dial and secs == members[1].timeout then
		return members[1].dial
	end
	local vars = {}
	for k, v in pairs(self.plan.vars) do vars[k] = v end
	vars.originate_timeout = secs
	local legs = {}
	for _, m in ipairs(members) do
		for _, l in ipairs(m.legs) do legs[#legs + 1] = l end
	end
	return ringlb.dialstring(legs, ",", vars)
end

-- attempt rings members (all their legs at once) for secs; it returns the
-- answered member's key and leg, or nil and the hangup cause.
function Ring:attempt(members, secs)
	local ds, err = self:dialstring(members, secs)
	if not ds then
		return nil, "INVALID", err
	end
	local ks = keys_of(members)
	self:event("attempt", { ["Ringlb-Members"] = ks, ["Ringlb-Timeout"] = secs })
	if self.on_attempt then
		self.on_attempt(ks, secs)
	end
	self.rang = self.rang + #members
	local leg = freeswitch.Session(ds, self.session)
	if leg and leg:ready() and leg:answered() then
		local key = leg:getVariable("ringlb_dest")
		if key == nil or key == "" then
			key = members[1].key
		end
		return key, leg
	end
	local cause = leg and leg:hangupCause() or "UNKNOWN"
	self:event("attempt-failed", { ["Ringlb-Members"] = ks, ["Ringlb-Reason"] = cause })
	return nil, cause
end

-- answered finishes a ring whose member key answered on leg: the other
-- holds go, the hold turns talking, the ring ends, then the bridge.
function Ring:answered(key, leg)
	self:event("answered", { ["Ringlb-Member"] = key })
	if self.holds then
		self.holds:release_all(key) -- losers stop counting as soon as the winner answers
		self.holds:answered(key)
	end
	self.session:setVariable("ringlb_answered_dest", key)
	self:finish("answered", key, nil, leg)
	if not self.bridge then
		return key, leg -- the hold stays until the caller hangs up (the hook)
	end
	if self.before_bridge then
		self.before_bridge(self.session, key, leg)
	end
	freeswitch.bridge(self.session, leg)
	if self.holds then
		self.holds:release(key)
	end
	if leg:ready() then
		leg:hangup("NORMAL_CLEARING")
	end
	-- freeswitch.bridge, unlike the bridge app, leaves the caller up when
	-- the member hangs up; do what hangup_after_bridge promises.
	if self.session:ready() and self.session:getVariable("hangup_after_bridge") == "true" then
		self.session:hangup("NORMAL_CLEARING")
	end
	return key, leg
end

-- failed records an attempt that got no answer; it returns true, with
-- what ring.ring returns, when the ring ends there.
function Ring:failed(cause, detail)
	if cause == "INVALID" then
		if self.holds then self.holds:release_all() end
		return true, self:finish("invalid", detail)
	end
	self.causes[#self.causes + 1] = cause
	if not self.session:ready() then
		return true, self:stop("caller_gone")
	end
	return false
end

local function remove(list, value)
	for i = #list, 1, -1 do
		if list[i] == value then table.remove(list, i) end
	end
end

-- one_at_a_time rings the members in turns, as ringlb decides them.
function Ring:one_at_a_time()
	local remaining = {}
	for i, m in ipairs(self.plan.members) do remaining[i] = m end
	while true do
		if not self.session:ready() then
			return self:stop("caller_gone")
		end
		local left
		if self.deadline then
			left = self.deadline - self:now()
		end
		local b = self.b_ok and self.b or nil
		-- m, seconds, skipped, full | false, stop, skipped | nil, err, code, skipped
		local m, secs, skipped, fourth = ringlb.ring_turn(self.plan.mode, remaining, self.uuid, left, b)
		local err, code, full
		if m == nil then
			err, code, skipped = secs, skipped, fourth or {}
		else
			full = fourth
		end
		for _, x in ipairs(skipped) do remove(remaining, x) end
		if #skipped > 0 then self:skip_full(skipped) end
		if m == false then
			return self:stop(secs)
		elseif m == nil and code ~= "backend" then
			if self.holds then self.holds:release_all() end
			return self:finish("invalid", err)
		elseif m == nil then
			if self:backend("pick", err) then
				return self:finish("backend_error", err)
			end
		else
			remove(remaining, m)
			if b then self.holds:add(m.key) end
			if self:is_dnd(m.key) then
				if b then self.holds:release(m.key) end
				self:skip_dnd(m.key)
			else
				local key, leg_or_cause, detail = self:attempt({ m }, secs)
				if key then
					return self:answered(key, leg_or_cause)
				end
				-- a ring-out only in a full turn: one the deadline cut short
				-- says nothing of the member
				if b then
					self.holds:release(m.key, full and ringlb.ring_reason({ leg_or_cause }) == "no_answer")
				end
				local done = { self:failed(leg_or_cause, detail) }
				if done[1] then
					return unpack(done, 2, 5)
				end
			end
		end
	end
end

-- all_at_once rings every member with room in one attempt.
function Ring:all_at_once()
	local ring = {}
	for _, m in ipairs(self.plan.members) do
		if self:is_dnd(m.key) then
			self:skip_dnd(m.key)
		else
			ring[#ring + 1] = m
		end
	end
	if #ring > 0 and self.b_ok then
		-- ringing counts as load: every member offered is held first
		local ks = {}
		for i, m in ipairs(ring) do ks[i] = m.key end
		local states, err, code = self.b:hold_all(ks, self.uuid)
		if not states then
			return self:finish("invalid", err)
		end
		local legs, full = {}, {}
		for i, m in ipairs(ring) do
			if states[i] == "held" then
				self.holds:add(m.key)
				legs[#legs + 1] = m
			elseif states[i] == "skipped" then
				full[#full + 1] = m
			else
				legs[#legs + 1] = m
			end
		end
		if #full > 0 then self:skip_full(full) end
		ring = legs
		if code == "backend" and self:backend("acquire", err) then
			return self:finish("backend_error", err)
		end
	end
	if #ring == 0 then
		return self:stop(self.full > 0 and "at_capacity" or "done")
	end
	if not self.session:ready() then
		return self:stop("caller_gone")
	end
	local key, leg_or_cause, detail = self:attempt(ring, self.plan.timeout)
	if key then
		return self:answered(key, leg_or_cause)
	end
	if self.holds then self.holds:release_all() end
	local done = { self:failed(leg_or_cause, detail) }
	if done[1] then
		return unpack(done, 2, 5)
	end
	return self:stop("done")
end

-- now returns the switch's clock in seconds (only a ring with a deadline
-- reads it).
function Ring:now()
	local us = tonumber(freeswitch.API():execute("strmicroepoch", ""))
	return us and us / 1e6 or os.time()
end

-- dnd_lookup returns whether member key, if a user of the directory, has
-- its variable do_not_disturb set to true (as FusionPBX sets it).
local function dnd_lookup(session)
	local api
	return function(key)
		local user, domain = key:match("^user/([^@/]+)@?(.*)$")
		if not user then
			return false
		end
		if domain == "" then
			domain = session:getVariable("domain_name") or options.global("domain") or ""
		end
		api = api or freeswitch.API()
		local v = api:execute("user_data", user .. "@" .. domain .. " var do_not_disturb")
		return v ~= nil and v:lower():match("^%s*true%s*$") ~= nil
	end
end

-- spec_members turns the members given to ring.ring into the spec's.
local function spec_members(members)
	if type(members) ~= "table" then
		return members
	end
	local out = {}
	for i, m in ipairs(members) do
		if type(m) == "table" and m.legs then
			local legs = {}
			for j, l in ipairs(m.legs) do
				legs[j] = type(l) == "table" and l or { endpoint = l }
			end
			out[i] = { key = m.key, timeout = m.timeout, dnd = m.dnd, legs = legs }
		else
			out[i] = m
		end
	end
	return out
end

--- ring rings members for the caller's session; see the top of this file.
function M.ring(session, members, mode, opts)
	local r = setmetatable({ session = session, mode = mode ~= nil and tostring(mode) or "", causes = {},
		full = 0, dnd = {}, dnd_seen = {}, rang = 0 }, Ring)
	r.session_ok = (type(session) == "userdata" or type(session) == "table") and session.get_uuid ~= nil
	if r.session_ok then
		r.uuid = session:get_uuid()
	end
	if opts ~= nil and type(opts) ~= "table" then
		return r:finish("invalid", "ringlb: ring: opts must be a table")
	end
	opts = opts or {}
	r.events = opts.events ~= false and options.global("ringlb_events") ~= "false"
	local b = opts.balancer
	if b == "" then
		return r:finish("invalid", "ringlb: ring: balancer name must be a non-empty string")
	elseif type(b) == "string" then
		r.bname, b = b, nil
	elseif b ~= nil then
		local ok, name = pcall(function() return b:name() end)
		if not ok or type(name) ~= "string" then
			return r:finish("invalid", "ringlb: ring: opts.balancer is not a ringlb balancer or a balancer name")
		end
		r.bname = name
	end
	if not r.session_ok then
		return r:finish("invalid", "ringlb: ring: session must be the caller's session")
	end
	if opts.vars ~= nil and type(opts.vars) ~= "table" then
		return r:finish("invalid", "ringlb: ring: vars must be a table")
	end
	local plan, err = ringlb.ring_plan({ mode = mode, balancer = r.bname, no_holds = opts.no_holds,
		timeout = opts.timeout, deadline = opts.deadline, on_backend_error = opts.on_backend_error,
		vars = opts.vars, members = spec_members(members) })
	if not plan then
		return r:finish("invalid", err)
	end
	r.plan, r.mode, r.bname = plan, plan.mode, plan.balancer
	if not session:ready() then
		return r:stop("caller_gone")
	end
	-- A failed attempt must not hang up the caller, and the caller's leg
	-- ends with the bridged call.
	session:setVariable("continue_on_fail", "true")
	session:setVariable("hangup_after_bridge", opts.hangup_after_bridge == false and "false" or "true")
	r.bridge, r.before_bridge, r.on_attempt = opts.bridge ~= false, opts.before_bridge, opts.on_attempt
	if plan.balancer then
		if not b then
			local code
			b, err, code = options.open(plan.balancer)
			if not b and code ~= "backend" then
				return r:finish("invalid", err)
			end
			if not b and r:backend("open", err) then
				return r:finish("backend_error", err)
			end
		end
		if b then
			r.b, r.b_ok, r.holds = b, true, M.holds(session, b, r.uuid)
		end
	end
	if opts.dnd ~= false and options.global("ringlb_dnd") ~= "false" then
		r.dnd_check = type(opts.dnd) == "function" and opts.dnd or dnd_lookup(session)
	end
	r:event("ring-start", { ["Ringlb-Members"] = keys_of(plan.members) })
	for _, k in ipairs(plan.dnd) do r:skip_dnd(k) end
	if plan.deadline > 0 then
		r.deadline = r:now() + plan.deadline
	end
	if plan.mode == "parallel" then
		return r:all_at_once()
	end
	return r:one_at_a_time()
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

--- release_hook runs the caller's release hook now, as the switch would at
-- hang-up, and clears it: for a script that caught an error out of
-- ring.ring and goes on with the call.
function M.release_hook(session)
	for _, var in ipairs(M.HOOK_VARS) do
		local v = session:getVariable(var)
		if v ~= nil and v ~= "" and ours(v) then
			freeswitch.API():execute("lua", v:sub(5))
			session:setVariable(var, "")
		end
	end
end

return M
