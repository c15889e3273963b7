-- fsmock: a scripted stand-in for the parts of FreeSWITCH's mod_lua API that
-- a ring group uses, on a virtual clock (nothing sleeps). It follows
-- shared/context/freeswitch.md:
--   * freeswitch.Session(dialstring, a_leg) blocks until a leg answers or
--     all fail; {originate_timeout=N} bounds it (default: the A-leg's
--     call_timeout, else 60 s), [leg_timeout=N] bounds one leg; "," legs
--     ring at once and the first answer wins (losers get LOSE_RACE), "|"
--     groups are tried in turn; a dial string without "/" is a uuid.
--   * The caller can hang up at a scripted time: a ringing originate stops
--     at once with ORIGINATOR_CANCEL and session:ready() turns false.
--   * freeswitch.bridge(a, b) lasts until either side hangs up.
--   * api_hangup_hook (then api_reporting_hook, each by exact name) runs
--     when the A-leg reaches CS_HANGUP, which is after
--     the script (the lua app) returns, as the switch's state machine does:
--     the command is split as api_hook splits it, at its first ':' when a
--     second ':' follows, else at its first space; the second part is
--     expanded with ${channel variables} and the API command named by the
--     first runs (an unknown one writes "-ERR"); "lua" runs the script in a fresh Lua
--     environment (own globals, own package.loaded, the C module opened
--     again through its luaopen_ function), with argv and stream, and no
--     session; argv as mod_lua splits it, at most 128 words (the 128th
--     keeps the rest of the line).
--   * API user_data "user@domain var name" reads cfg.directory, a table
--     {["1001@example.com"] = {do_not_disturb = "true"}}.
--   * freeswitch.consoleLog, freeswitch.API():execute (each command counted
--     in sw.api_calls), getGlobalVariable, msleep, stream:write,
--     freeswitch.Event(type, subclass) with addHeader and fire (recorded in
--     sw.events, and with every switch's in fsmock.fired).
--   * mod_lua event hooks (<hook event= script=/> lines of the lua.conf.xml
--     given as cfg.lua_conf): each channel event runs each script bound to
--     it in a fresh Lua state with the global `event` (getHeader,
--     serialize); a script error is logged and the switch goes on. Channels
--     fire CHANNEL_CREATE, CHANNEL_ANSWER and CHANNEL_HANGUP_COMPLETE with
--     the headers and variables docs/tracking.md records: Unique-ID,
--     Call-Direction, Hangup-Cause, and variable_* for every channel
--     variable. A leg to user/NAME[@DOMAIN] is outbound with dialed_user and
--     dialed_domain (DOMAIN, else the global domain), and
--     originating_leg_uuid when a session placed it; the placing session
--     gets dialed_user and dialed_domain too, as mod_dptools sets them.
--     The switch delivers events on its event thread, after the channel
--     exists: with sw.defer_events set, hooks wait in sw.pending until
--     sw:dispatch() (the window docs/tracking.md measures); by default they
--     run at once.
--   * mod_lua's startup-script params of that lua.conf.xml: sw:start() is
--     the switch starting. mod_lua binds the hooks, then runs each startup
--     script ("name args...", split as the lua command splits them) in a
--     fresh state with no session in a thread of its own, and the switch
--     takes calls only once every module has loaded: sw:call() before
--     sw:start() is an error when a lua_conf is given. A script may run for
--     as long as the switch: one waiting in EventConsumer:pop is suspended
--     (a coroutine) and resumed as events come; sw:stop() is the switch
--     stopping (freeswitch.running() turns false, a waiting pop returns nil).
--   * freeswitch.EventConsumer([event [, subclass [, len]]]) with bind(event,
--     subclass) (1 when bound, 0 for an unknown event name) and pop(block,
--     timeout_ms), as switch_cpp.cpp's: each event bound is copied into the
--     consumer's queue as the event thread delivers it (after the hooks),
--     dropped with an ERROR line when len (5000) are queued; pop returns the
--     next one (getHeader, serialize) or nil once the timeout has passed;
--     cleanup unbinds it. msleep in such a thread suspends it likewise.
--   * API xml_locate "configuration configuration name lua.conf": the
--     lua.conf.xml given, its comments dropped as the switch's parser does.
--   * The user directory's dial-var-NAME params (cfg.dial_vars, {NAME =
--     value}, the domain's as every user inherits them): channel variables
--     of every leg to user/. execute_on_originate* variables run their
--     application ("lua <script> args" runs the script with the new leg as
--     `session`) as the leg is made, before its CHANNEL_CREATE; the switch
--     runs them again on the answered leg when the originate that placed
--     the user/ leg returns, if they are still set (mod_dptools' user/
--     endpoint originates inside the caller's originate).
-- Tests only: it never ships.
local M = {}

-- fired is every event fired by every switch of the process, in order.
M.fired = {}

local unpack = table.unpack or unpack

local Switch = {}
Switch.__index = Switch

-- new returns a switch. cfg.script_dir is where "lua <script>" looks;
-- cfg.path / cfg.cpath are package.path / package.cpath of fresh states.
function M.new(cfg)
	local sw = setmetatable({
		t = 0,
		globals = cfg.globals or {},
		logs = {},
		behaviours = {},
		legs = {},
		hooks_run = {},
		script_dir = cfg.script_dir,
		path = cfg.path,
		cpath = cfg.cpath,
		nuuid = 0,
		hooks = {},
		startup_scripts = {},
		pending = {},
		consumers = {},
		threads = {},
		started = cfg.lua_conf == nil,
		directory = cfg.directory or {},
		node = cfg.node,
		dial_vars = cfg.dial_vars or {},
	}, Switch)
	if cfg.lua_conf then
		local cf = assert(io.open(cfg.lua_conf))
		sw.lua_conf_text = cf:read("*a")
		cf:close()
		local f = assert(io.open(cfg.lua_conf))
		for line in f:lines() do
			if not line:match("^%s*<!%-%-") then
				local ev, script = line:match('<hook%s+event="([^"]+)".-script="([^"]+)"')
				if ev then
					sw.hooks[ev] = sw.hooks[ev] or {}
					table.insert(sw.hooks[ev], script)
				end
				local startup = line:match('<param%s+name="startup%-script"%s+value="([^"]+)"')
				if startup then
					table.insert(sw.startup_scripts, startup)
				end
			end
		end
		f:close()
	end
	sw.freeswitch = sw:make_freeswitch()
	return sw
end

-- uuid returns a new channel uuid; cfg.node tells the switches of a
-- multi-process test apart (uuids are unique across switches).
function Switch:uuid(prefix)
	self.nuuid = self.nuuid + 1
	return string.format("%s-%04d-%s", prefix or "uuid", self.nuuid, self.node or "mock")
end

function Switch:log(level, msg)
	self.logs[#self.logs + 1] = { t = self.t, level = level, msg = msg }
end

-- start is the switch starting: mod_lua loads (its hooks are bound as its
-- config is read, then each startup script runs in a fresh state of its
-- own), the remaining modules load, and only then does the switch take
-- calls. It returns the startup scripts' results, ok, err each.
function Switch:start()
	assert(not self.started, "fsmock: the switch is already started")
	self.running = true
	local results = {}
	for _, line in ipairs(self.startup_scripts) do
		local script, argv = M.mod_lua_args(line)
		local ok, err = self:run_thread(script, argv)
		results[#results + 1] = { ok, err }
	end
	self.started = true
	return results
end

-- stop is the switch stopping: freeswitch.running() turns false and every
-- script still running (waiting in EventConsumer:pop) is woken to see it.
-- It returns the number of those scripts that did not end.
function Switch:stop()
	self.running = false
	local left = 0
	for _, th in ipairs(self.threads) do
		self:resume(th)
		if coroutine.status(th.co) ~= "dead" then
			left = left + 1
		end
	end
	return left
end

-- fire delivers an event as the switch's event thread does: each hook bound
-- to its name runs as mod_lua's lua_event_handler does, a fresh state per
-- script with the event as the global `event`; with sw.defer_events, at the
-- next sw:dispatch(). Variables become variable_<name> headers, copied as
-- the event is made.
function Switch:fire(name, headers, vars)
	local h = { ["Event-Name"] = name }
	for k, v in pairs(headers) do h[k] = v end
	for k, v in pairs(vars or {}) do h["variable_" .. k] = tostring(v) end
	self.channel_events = self.channel_events or {}
	self.channel_events[#self.channel_events + 1] = h
	if self.defer_events then
		self.pending[#self.pending + 1] = h
		return
	end
	self:deliver(h)
end

-- dispatch delivers the events waiting for the event thread, in order.
function Switch:dispatch()
	while #self.pending > 0 do
		self:deliver(table.remove(self.pending, 1))
	end
end

-- event_object returns the Lua face of an event with headers h.
local function event_object(h)
	local ev = {}
	function ev:getHeader(k) return h[k] end
	function ev:serialize()
		local out = {}
		for k, v in pairs(h) do out[#out + 1] = k .. ": " .. v end
		return table.concat(out, "\n")
	end
	return ev
end

function Switch:deliver(h)
	for _, script in ipairs(self.hooks[h["Event-Name"]] or {}) do
		self:run_script(script, {}, nil, nil, { event = event_object(h) })
	end
	for _, c in ipairs(self.consumers) do
		if c.bound[h["Event-Name"]] then
			if #c.queue >= c.len then
				self:log("ERR", "Cannot queue any more events.....")
			else
				local dup = {}
				for k, v in pairs(h) do dup[k] = v end
				c.queue[#c.queue + 1] = dup
			end
		end
	end
	for _, th in ipairs(self.threads) do
		self:resume(th)
	end
end

-- EVENT_NAMES are the event names bind accepts (switch_name_event).
local EVENT_NAMES = { CHANNEL_CREATE = true, CHANNEL_ANSWER = true, CHANNEL_HANGUP_COMPLETE = true,
	CHANNEL_DESTROY = true, CHANNEL_BRIDGE = true, CHANNEL_PARK = true, CUSTOM = true, ALL = true }

-- consumer returns a new freeswitch.EventConsumer.
function Switch:consumer(event, subclass, len)
	local sw = self
	local c = { bound = {}, queue = {}, len = len or 5000, ready = true }
	sw.consumers[#sw.consumers + 1] = c
	function c:bind(name)
		if not self.ready then
			return 0
		elseif not EVENT_NAMES[name] then
			sw:log("WARNING", "Can't bind to " .. tostring(name) .. ", event not found")
			return 0
		end
		self.bound[name] = true
		return 1
	end
	-- pop waits (block ~= 0) for the next event until timeout ms have passed
	-- (0: for ever): a script in a thread of its own is suspended meanwhile,
	-- any other caller sees the time pass on the virtual clock.
	function c:pop(block, timeout)
		while #self.queue == 0 do
			if not self.ready or not block or block == 0 then
				return nil
			elseif not sw:in_thread() or not sw.running then
				sw.t = sw.t + (timeout or 0) / 1000
				return nil
			end
			coroutine.yield()
			if #self.queue == 0 then
				return nil -- woken with nothing for it (the switch stopping, another event): the timeout passes
			end
		end
		return event_object(table.remove(self.queue, 1))
	end
	-- cleanup unbinds the consumer and drops what it has queued; pop then
	-- returns nil at once.
	function c:cleanup()
		self.ready, self.queue, self.bound = false, {}, {}
		for i, x in ipairs(sw.consumers) do
			if x == self then
				table.remove(sw.consumers, i)
				break
			end
		end
	end
	if event ~= nil and event ~= "" then
		c:bind(event, subclass)
	end
	return c
end

-- in_thread reports whether the running code is a script in a thread of
-- its own (a startup script).
function Switch:in_thread()
	local co = coroutine.running()
	for _, th in ipairs(self.threads) do
		if th.co == co then
			return true
		end
	end
	return false
end

-- channel_event fires an event for session-like s (uuid, vars, direction).
function Switch:channel_event(name, s, cause)
	self:fire(name, { ["Unique-ID"] = s.uuid, ["Call-Direction"] = s.direction or "inbound",
		["Hangup-Cause"] = cause }, s.vars)
end

-- logged reports whether a log line matches pattern (plain text).
function Switch:logged(text)
	for _, l in ipairs(self.logs) do
		if l.msg:find(text, 1, true) then
			return true
		end
	end
	return false
end

-- behave queues what dest does on its next originates, one table each:
--   {answer = s, talk = s}  answers s seconds after ringing starts and hangs
--                           up talk seconds into the bridge (default 60)
--   {busy = true}           rejects at once with USER_BUSY
--   {fail = "CAUSE", after = s}
--   {no_answer = true}      rings until a timeout
--   on_ring = function(sw, leg) called as the leg starts ringing
--   bridge_error = "msg"    freeswitch.bridge raises this error
-- Each call replaces dest's script. The last behaviour repeats; a dest
-- never scripted does not answer.
function Switch:behave(dest, ...)
	self.behaviours[dest] = { ... }
end

function Switch:next_behaviour(dest)
	local q = self.behaviours[dest]
	if not q or #q == 0 then
		return { no_answer = true }
	end
	if #q > 1 then
		return table.remove(q, 1)
	end
	return q[1]
end

----------------------------------------------------------------------------
-- Sessions

local Session = {}
Session.__index = Session

local function new_session(sw, uuid, vars)
	return setmetatable({ sw = sw, uuid = uuid, vars = vars or {}, state = "up", cause = nil,
		is_answered = false }, Session)
end

-- tick applies a scripted caller hang-up once the clock reaches it.
function Session:tick()
	if self.state ~= "hangup" and self.hangup_at and self.sw.t >= self.hangup_at then
		self:hangup("NORMAL_CLEARING")
	end
end

function Session:ready()
	self:tick()
	return self.state ~= "hangup"
end

function Session:answered()
	return self.is_answered
end

function Session:answer()
	if not self.is_answered then
		self.is_answered = true
		self.sw:channel_event("CHANNEL_ANSWER", self)
	end
end

function Session:get_uuid()
	return self.uuid
end

function Session:getVariable(name)
	return self.vars[name]
end

function Session:setVariable(name, value)
	if value == nil or value == "" then
		self.vars[name] = nil
	else
		self.vars[name] = tostring(value)
	end
end

function Session:hangup(cause)
	if self.state ~= "hangup" then
		self.state = "hangup"
		self.cause = cause or "NORMAL_CLEARING"
		self.hangup_time = self.sw.t
		self.vars.hangup_cause = self.cause
		if self.tracked then
			self.sw:channel_event("CHANNEL_HANGUP_COMPLETE", self, self.cause)
		end
	end
end

function Session:hangupCause()
	return self.cause or "NONE"
end

function Session:setHangupHook(fname)
	self.lua_hangup_hook = fname -- not a reliable cleanup (freeswitch.md); kept, never run
end

function Session:consoleLog(level, msg)
	self.sw:log(level, msg)
end

-- EXECUTE are the dialplan applications session:execute runs; each is
-- recorded in sw.executed ({uuid, app, data}). set and export set the
-- variable, answer answers, sleep moves the clock, transfer leaves the
-- destination in session.transferred (the switch transfers the call when
-- the script returns); the others only play or bind and are recorded.
local EXECUTE = {
	set = true, export = true, answer = true, sleep = true, transfer = true,
	playback = true, bind_digit_action = true, ring_ready = true, hangup = true,
}

function Session:execute(app, data)
	if not EXECUTE[app] then
		error("fsmock: session:execute(" .. tostring(app) .. ") is not scripted")
	end
	self.sw.executed = self.sw.executed or {}
	table.insert(self.sw.executed, { uuid = self.uuid, app = app, data = data })
	if app == "set" or app == "export" then
		local k, v = (data or ""):match("^([^=]+)=(.*)$")
		if k then self:setVariable(k, v) end
	elseif app == "answer" then
		self:answer()
	elseif app == "sleep" then
		self.sw.t = self.sw.t + (tonumber(data) or 0) / 1000
	elseif app == "transfer" then
		self.transferred = data
	elseif app == "hangup" then
		self:hangup(data ~= "" and data or nil)
	end
end

-- streamFile, sleep and recordFile: what a ring group plays and records
-- (greetings, call screening) is recorded in sw.played / sw.recorded; sleep
-- moves the clock.
function Session:streamFile(file)
	self.sw.played = self.sw.played or {}
	table.insert(self.sw.played, file)
end

function Session:sleep(ms)
	self.sw.t = self.sw.t + (tonumber(ms) or 0) / 1000
end

function Session:recordFile(file, max_len, silence_threshold, silence_secs)
	self.sw.recorded = self.sw.recorded or {}
	table.insert(self.sw.recorded, file)
	return true
end

function Session:setInputCallback() end

-- call starts an inbound call. opts.hangup_at: virtual time at which the
-- caller hangs up; opts.vars: channel variables.
function Switch:call(opts)
	assert(self.started, "fsmock: no calls before sw:start() (the switch takes calls once mod_lua has loaded)")
	opts = opts or {}
	local a = new_session(self, opts.uuid or self:uuid("a"), opts.vars)
	a.hangup_at = opts.hangup_at
	a.direction, a.tracked = "inbound", true
	self:channel_event("CHANNEL_CREATE", a)
	if opts.answered then
		a:answer()
	end
	return a
end

----------------------------------------------------------------------------
-- Dial strings (enough of switch_ivr_originate for what ringlb builds; the
-- exact escaping is tested in Go against a port of the switch's parser).

local function find_end(s, i, open, close)
	local depth = 0
	for j = i, #s do
		local c = s:sub(j, j)
		if c == open then
			depth = depth + 1
		elseif c == close then
			depth = depth - 1
			if depth == 0 then
				return j
			end
		end
	end
	return nil
end

-- split splits s on delim outside backslash escapes; with brackets, also
-- outside [...] blocks (switch_ivr_originate escapes the commas inside a
-- leg's [] block before it splits the legs on ",").
local function split(s, delim, brackets)
	local out, cur, i = {}, {}, 1
	while i <= #s do
		local c = s:sub(i, i)
		local close = brackets and c == "[" and find_end(s, i, "[", "]")
		if close then
			cur[#cur + 1] = s:sub(i, close)
			i = close + 1
		elseif c == "\\" then
			cur[#cur + 1] = s:sub(i, i + 1)
			i = i + 2
		elseif c == delim then
			out[#out + 1] = table.concat(cur)
			cur = {}
			i = i + 1
		else
			cur[#cur + 1] = c
			i = i + 1
		end
	end
	out[#out + 1] = table.concat(cur)
	return out
end

local function unescape(s)
	return (s:gsub("\\(.)", function(c)
		if c == "s" then return " " elseif c == "n" then return "\n" elseif c == "t" then return "\t" end
		return c
	end):gsub("^'(.*)'$", "%1"))
end

local function parse_vars(block, into)
	for _, kv in ipairs(split(block, ",")) do
		kv = unescape(kv)
		local k, v = kv:match("^%s*([^=]+)=(.*)$")
		if k then
			into[k] = unescape(v)
		end
	end
end

-- parse returns {vars = {...}, groups = {{ {endpoint=, vars=}, ... }, ...}}.
function M.parse_dialstring(ds)
	local out = { vars = {}, groups = {} }
	local rest = ds:gsub("^%s+", "")
	while rest:sub(1, 1) == "{" do
		local e = assert(find_end(rest, 1, "{", "}"), "fsmock: unterminated {} in " .. ds)
		parse_vars(rest:sub(2, e - 1), out.vars)
		rest = rest:sub(e + 1)
	end
	for _, group in ipairs(split(rest, "|")) do
		local legs = {}
		for _, leg in ipairs(split(group, ",", true)) do
			local l = { vars = {} }
			leg = leg:gsub("^%s+", "")
			while leg:sub(1, 1) == "[" do
				local e = assert(find_end(leg, 1, "[", "]"), "fsmock: unterminated [] in " .. ds)
				parse_vars(leg:sub(2, e - 1), l.vars)
				leg = leg:sub(e + 1)
			end
			l.endpoint = leg
			legs[#legs + 1] = l
		end
		out.groups[#out.groups + 1] = legs
	end
	return out
end

----------------------------------------------------------------------------
-- Originate

-- ring_group rings the legs of one "," group from time start; it returns
-- the winner (a leg record) or nil and the failure cause, and leaves the
-- clock at the end of the group.
function Switch:ring_group(a, legs, gvars, timeout)
	local start = self.t
	local recs = {}
	for _, l in ipairs(legs) do
		local b = self:next_behaviour(l.endpoint)
		local vars = {}
		for k, v in pairs(gvars) do vars[k] = v end
		for k, v in pairs(l.vars) do vars[k] = v end
		local limit = start + timeout
		local lt = tonumber(vars.leg_timeout or "")
		local user, domain = l.endpoint:match("^user/([^@]+)@?(.*)$")
		if user then
			if domain == "" then domain = self.globals.domain or "example.com" end
			vars.dialed_user, vars.dialed_domain = user, domain
			if a then
				a.vars.dialed_user, a.vars.dialed_domain = user, domain
			end
			for k, v in pairs(self.dial_vars) do
				vars[k] = v
			end
		end
		if a then
			vars.originating_leg_uuid = a.uuid
		end
		local rec = { dest = l.endpoint, vars = vars, behaviour = b, start = start,
			uuid = self:uuid("b"), a_uuid = a and a.uuid, direction = "outbound" }
		-- [leg_delay_start=N] starts the leg N seconds into the originate.
		local rings = start + (tonumber(vars.leg_delay_start or "") or 0)
		local dir = user and self.directory[user .. "@" .. domain]
		if dir and dir.registered == false then
			-- the directory's dial-string finds no contact
			rec.at, rec.outcome, rec.cause = rings, "fail", "USER_NOT_REGISTERED"
		elseif b.answer then
			rec.at, rec.outcome = rings + b.answer, "answer"
			-- group_confirm_key=exec with group_confirm_file runs that app
			-- on the answered leg before it wins: FusionPBX's confirm.lua
			-- prompts when confirm=true; the member's digit (b.confirm,
			-- "1" by default) accepts, "2" rejects, anything else is no
			-- answer; it takes b.confirm_after seconds (default 3).
			if vars.group_confirm_key == "exec" and vars.group_confirm_file and vars.confirm == "true" then
				rec.at = rec.at + (b.confirm_after or 3)
				rec.confirm = b.confirm or "1"
				if rec.confirm == "2" then
					rec.outcome, rec.cause, rec.answered_first = "fail", "CALL_REJECTED", true
				elseif rec.confirm ~= "1" then
					rec.outcome, rec.cause, rec.answered_first = "fail", "NO_ANSWER", true
				end
			end
		elseif b.busy then
			rec.at, rec.outcome, rec.cause = rings + (b.after or 0), "fail", "USER_BUSY"
		elseif b.fail then
			rec.at, rec.outcome, rec.cause = rings + (b.after or 0), "fail", b.fail
		else
			rec.at, rec.outcome = math.huge, "ring"
		end
		if lt and lt > 0 and start + lt < rec.at and start + lt < limit then
			rec.at, rec.outcome, rec.cause = start + lt, "fail", "ALLOTTED_TIMEOUT"
		end
		if rec.at > limit then
			rec.at, rec.outcome, rec.cause = limit, "fail", "NO_ANSWER"
		end
		recs[#recs + 1] = rec
		self.legs[#self.legs + 1] = rec
		-- Other registered devices of a user ring too and never answer.
		for _ = 2, b.devices or 1 do
			local dev = { dest = l.endpoint, vars = vars, behaviour = { no_answer = true }, start = start,
				uuid = self:uuid("b"), a_uuid = rec.a_uuid, direction = "outbound", device = true }
			dev.at, dev.outcome, dev.cause = limit, "fail", "NO_ANSWER"
			recs[#recs + 1] = dev
			self.legs[#self.legs + 1] = dev
		end
	end
	for _, rec in ipairs(recs) do
		self:execute_on(rec, "execute_on_originate")
		self:channel_event("CHANNEL_CREATE", rec)
	end
	for _, rec in ipairs(recs) do
		if rec.behaviour.on_ring then
			rec.behaviour.on_ring(self, rec)
		end
	end
	-- the first event wins: an answer, or the caller hanging up
	local winner
	for _, rec in ipairs(recs) do
		if rec.outcome == "answer" and (not winner or rec.at < winner.at) then
			winner = rec
		end
	end
	local last = start
	for _, rec in ipairs(recs) do
		if rec.outcome == "fail" and rec.at > last then last = rec.at end
	end
	local ends = winner and winner.at or last
	if a and a.hangup_at and a.state ~= "hangup" and a.hangup_at < ends then
		self.t = math.max(self.t, a.hangup_at)
		a:tick()
		for _, rec in ipairs(recs) do
			if rec.at > self.t or rec.outcome == "answer" then
				rec.outcome, rec.cause, rec.at = "fail", "ORIGINATOR_CANCEL", self.t
			end
		end
		self:group_ended(recs)
		return nil, "ORIGINATOR_CANCEL"
	end
	self.t = ends
	if winner then
		for _, rec in ipairs(recs) do
			if rec ~= winner and (rec.outcome == "answer" or rec.at > winner.at) then
				rec.outcome, rec.cause, rec.at = "fail", "LOSE_RACE", winner.at
			end
		end
		self:channel_event("CHANNEL_ANSWER", winner)
		self:group_ended(recs)
		return winner
	end
	local cause = "NO_ANSWER"
	for _, rec in ipairs(recs) do
		if rec.at == last then cause = rec.cause end
	end
	self:group_ended(recs)
	return nil, cause
end

-- execute_on runs the applications of rec's channel variables whose names
-- start with prefix, as switch_channel_execute_on does, on the originating
-- thread: "lua <script> args" runs the script with the leg as `session`.
function Switch:execute_on(rec, prefix)
	local names = {}
	for k in pairs(rec.vars) do
		if k:sub(1, #prefix) == prefix then names[#names + 1] = k end
	end
	table.sort(names)
	for _, k in ipairs(names) do
		local v = rec.vars[k]
		if v then
			local app, data = v:match("^(%S+)%s*(.*)$")
			self.executed = self.executed or {}
			self.executed[#self.executed + 1] = { uuid = rec.uuid, var = k, app = app, data = data }
			if app == "lua" then
				local script, argv = M.mod_lua_args(data)
				local leg = new_session(self, rec.uuid, rec.vars)
				leg.direction = "outbound"
				self:run_script(script, argv, leg)
			end
		end
	end
end

-- group_ended fires the hangups of the legs of a group that failed.
function Switch:group_ended(recs)
	for _, rec in ipairs(recs) do
		if rec.answered_first then
			self:channel_event("CHANNEL_ANSWER", rec) -- answered, then failed its confirm prompt
		end
		if rec.outcome == "fail" then
			self:channel_event("CHANNEL_HANGUP_COMPLETE", rec, rec.cause)
		end
	end
end

function Switch:originate(ds, a)
	self.originates = (self.originates or 0) + 1
	self.last_dialstring = ds
	if not ds:find("/", 1, true) then
		local s = new_session(self, ds)
		s:hangup("DESTINATION_OUT_OF_ORDER")
		return s
	end
	if a and not a:ready() then
		local s = new_session(self, self:uuid("b"))
		s:hangup("ORIGINATOR_CANCEL")
		return s
	end
	local p = M.parse_dialstring(ds)
	local timeout = tonumber(p.vars.originate_timeout or "") or tonumber(a and a.vars.call_timeout or "") or 60
	local cause = "NO_ANSWER"
	for _, group in ipairs(p.groups) do
		local winner, c = self:ring_group(a, group, p.vars, timeout)
		if winner then
			if winner.dest:match("^user/") then
				-- the caller's originate gets the leg back from user/'s own
				self:execute_on(winner, "execute_on_originate")
			end
			local b = new_session(self, winner.uuid, winner.vars)
			b.is_answered = true
			b.rec = winner
			b.direction, b.tracked = "outbound", true
			winner.session = b
			if a then
				a.vars.originate_disposition = "SUCCESS"
			end
			return b
		end
		cause = c
		if c == "ORIGINATOR_CANCEL" then
			break
		end
	end
	if a then
		a.vars.originate_disposition = cause
		a.vars.originate_failed_cause = cause
	end
	local s = new_session(self, self:uuid("b"))
	s:hangup(cause)
	return s
end

-- bridge lasts until the B-leg hangs up (its behaviour's talk time) or the
-- caller does. self.on_bridge(sw, a, b) runs as it starts,
-- self.on_bridge_end(sw, a, b) as it ends, before it returns.
function Switch:bridge(a, b)
	assert(a and b, "fsmock: bridge needs two sessions")
	if not a:ready() or not b:ready() then
		return
	end
	local beh = b.rec and b.rec.behaviour or {}
	if beh.bridge_error then
		error(beh.bridge_error)
	end
	a:answer()
	local start = self.t
	self.bridges = self.bridges or {}
	local br = { a = a.uuid, b = b.uuid, dest = b.rec and b.rec.dest, start = start }
	self.bridges[#self.bridges + 1] = br
	a.vars.bridge_uuid = b.uuid
	if self.on_bridge then
		self.on_bridge(self, a, b)
	end
	local b_end = start + (beh.talk or 60)
	if a.hangup_at and a.hangup_at < b_end then
		self.t = math.max(self.t, a.hangup_at)
		a:tick()
		b:hangup("NORMAL_CLEARING")
	else
		self.t = b_end
		b:hangup("NORMAL_CLEARING")
		a.vars.bridge_hangup_cause = "NORMAL_CLEARING"
		a.vars.last_bridge_hangup_cause = "NORMAL_CLEARING"
	end
	br.stop = self.t
	if self.on_bridge_end then
		self.on_bridge_end(self, a, b)
	end
end

----------------------------------------------------------------------------
-- Fresh Lua states

local BASE = { "assert", "error", "ipairs", "next", "pairs", "pcall", "print", "rawequal", "rawget",
	"rawlen", "rawset", "select", "setmetatable", "getmetatable", "tonumber", "tostring", "type",
	"xpcall", "unpack", "string", "table", "math", "os", "io", "coroutine", "utf8", "bit32", "bit",
	"jit", "setfenv", "getfenv", "loadstring", "load", "dofile", "loadfile", "collectgarbage", "_VERSION" }

local function loadfile_in(path, env)
	if setfenv then
		local f, err = loadfile(path)
		if f then setfenv(f, env) end
		return f, err
	end
	return loadfile(path, "t", env)
end

-- fresh_env returns the globals of a new "lua_State": base library, its own
-- package.loaded and require, and extra globals.
function Switch:fresh_env(extra)
	local env = {}
	for _, k in ipairs(BASE) do
		env[k] = _G[k]
	end
	env._G = env
	local loaded = {}
	env.package = { path = self.path, cpath = self.cpath, loaded = loaded, preload = {},
		config = package.config, loadlib = package.loadlib }
	env.require = function(name)
		if loaded[name] ~= nil then
			return loaded[name]
		end
		local fname = (name:gsub("%.", "/"))
		for tmpl in env.package.path:gmatch("[^;]+") do
			local p = (tmpl:gsub("%?", fname))
			local f = io.open(p)
			if f then
				f:close()
				local chunk = assert(loadfile_in(p, env))
				local r = chunk(name)
				if r == nil then r = true end
				loaded[name] = r
				return r
			end
		end
		for tmpl in env.package.cpath:gmatch("[^;]+") do
			local p = (tmpl:gsub("%?", fname))
			local f = io.open(p)
			if f then
				f:close()
				local open = assert(package.loadlib(p, "luaopen_" .. (name:gsub("%.", "_"))))
				local r = open(name)
				if r == nil then r = true end
				loaded[name] = r
				return r
			end
		end
		error("module '" .. name .. "' not found in the fresh state", 2)
	end
	-- loadfile and dofile load into this state's globals, as in a real
	-- lua_State (FusionPBX's app.lua runs its apps with loadfile).
	env.loadfile = function(p, mode, e) return loadfile_in(p, e or env) end
	env.dofile = function(p) return assert(loadfile_in(p, env))() end
	env.freeswitch = self.freeswitch
	for k, v in pairs(extra or {}) do
		env[k] = v
	end
	return env
end

local Stream = {}
Stream.__index = Stream
function Stream:write(s)
	self.buf[#self.buf + 1] = tostring(s)
end
function Stream:text()
	return table.concat(self.buf)
end

-- run_script runs script_dir/<name> in a fresh state with argv, as mod_lua's
-- lua app (with session) or lua API command (with stream) does. Errors are
-- caught and logged like mod_lua does; it returns ok, err.
function Switch:run_script(name, argv, session, stream, globals)
	local path = name:sub(1, 1) == "/" and name or (self.script_dir .. "/" .. name)
	local extra = { argv = argv or {}, session = session, stream = stream }
	for k, v in pairs(globals or {}) do extra[k] = v end
	local env = self:fresh_env(extra)
	local chunk, err = loadfile_in(path, env)
	if not chunk then
		self:log("ERR", "lua: " .. tostring(err))
		return false, err
	end
	local ok, rerr = pcall(chunk, unpack(argv or {}))
	if not ok then
		self:log("ERR", "lua: " .. tostring(rerr))
	end
	return ok, rerr
end

-- run_thread runs script_dir/<name> in a fresh state in a "thread" of its
-- own, as mod_lua's lua_thread does: a coroutine that runs until the script
-- ends or waits for an event. It returns ok, err so far.
function Switch:run_thread(name, argv)
	local path = name:sub(1, 1) == "/" and name or (self.script_dir .. "/" .. name)
	local env = self:fresh_env({ argv = argv or {} })
	local chunk, err = loadfile_in(path, env)
	if not chunk then
		self:log("ERR", "lua: " .. tostring(err))
		return false, err
	end
	local th = { name = name, co = coroutine.create(chunk), argv = argv or {} }
	self.threads[#self.threads + 1] = th
	return self:resume(th)
end

-- resume runs thread th until it waits again or ends; an error ends it and
-- is logged as mod_lua logs it.
function Switch:resume(th)
	if coroutine.status(th.co) ~= "suspended" then
		return true
	end
	local ok, err
	if th.started then
		ok, err = coroutine.resume(th.co)
	else
		th.started = true
		ok, err = coroutine.resume(th.co, unpack(th.argv))
	end
	if not ok then
		self:log("ERR", "lua: " .. tostring(err))
	end
	return ok, err
end

-- api runs an API command as switch_api_execute does, for the commands a
-- ring group uses.
function Switch:api(cmd, arg, session)
	self.api_calls = self.api_calls or {}
	self.api_calls[cmd] = (self.api_calls[cmd] or 0) + 1
	local stream = setmetatable({ buf = {} }, Stream)
	if cmd == "lua" then
		local script, argv = M.mod_lua_args(arg or "")
		if script ~= "" then
			self:run_script(script, argv, session, stream)
		end
	elseif cmd == "global_getvar" then
		stream:write(self.globals[arg] or "")
	elseif cmd == "echo" then
		stream:write(arg or "")
	elseif cmd == "user_data" then
		-- "user@domain var name": the user's directory variable; a missing
		-- user or variable answers "-ERR no reply", as the switch does.
		local who, kind, var = (arg or ""):match("^(%S+)%s+(%S+)%s+(%S+)$")
		local u = who and self.directory[who]
		local v = u and kind == "var" and u[var]
		if u and kind == "attr" and var == "id" then
			v = u.id or who:match("^[^@]+") -- number aliases answer the user's id
		end
		stream:write(v or "-ERR no reply")
	elseif cmd == "user_exists" then
		-- "id <user> <domain>": "true" or "false"
		local user, domain = (arg or ""):match("^id%s+(%S+)%s+(%S+)$")
		stream:write(user and self.directory[user .. "@" .. domain] and "true" or "false")
	elseif cmd == "sofia_contact" then
		-- "*/<user>@<domain>": the user's registered contact; cfg.directory
		-- entries with registered = false have none.
		local who = (arg or ""):gsub("^[^/]*/", "")
		local u = self.directory[who]
		if u and u.registered ~= false then
			stream:write("sofia/internal/sip:" .. who .. ";fs_nat=no")
		else
			stream:write("error/user_not_registered")
		end
	elseif cmd == "strepoch" or cmd == "strmicroepoch" then
		-- the current time (no argument) on the virtual clock, from sw.epoch
		local now = (self.epoch or 1700000000) + self.t
		stream:write(string.format("%d", cmd == "strepoch" and math.floor(now) or math.floor(now * 1e6)))
	elseif cmd == "hostname" then
		stream:write("fsmock")
	elseif cmd == "xml_locate" and arg == "configuration configuration name lua.conf" and self.lua_conf_text then
		stream:write((self.lua_conf_text:gsub("<!%-%-.-%-%->", "")))
	else
		stream:write("-ERR " .. tostring(cmd) .. " Command not found!\n")
	end
	return stream:text()
end

-- MOD_LUA_MAX_ARGS is the size of mod_lua's argv array
-- (lua_parse_and_execute in mod_lua.cpp: char *argv[128]).
M.MOD_LUA_MAX_ARGS = 128

-- cleanup is cleanup_separated_string(str, delim) of src/switch_utils.c on
-- the bytes b[i..]: leading spaces skipped, \' \" \\ (and \<delim>) and
-- \n \r \t \s resolved, quote pairs dropped, trailing spaces cut.
local UNESCAPE = { n = "\n", r = "\r", t = "\t", s = " " }
local function cleanup(b, delim)
	local i = 1
	while b[i] == " " do i = i + 1 end
	local out, stop, inside = {}, 0, false
	while i <= #b do
		local c, e = b[i], b[i + 1]
		if c == "\\" and e and (e == "'" or e == '"' or e == delim or e == "\\" or UNESCAPE[e]) then
			out[#out + 1] = UNESCAPE[e] or e
			stop = #out
			i = i + 2
		else
			local later = false
			for j = i + 1, #b do
				if b[j] == "'" then later = true break end
			end
			if c == "'" and (inside or later) then
				inside = not inside
				if inside then stop = #out end
			else
				out[#out + 1] = c
				if c ~= " " or inside then stop = #out end
			end
			i = i + 1
		end
	end
	return table.concat(out, "", 1, stop)
end

-- mod_lua_args returns the script name and argv of a "lua" command line as
-- mod_lua's lua_parse_and_execute reads it: the name up to the first space,
-- then switch_separate_string(args, ' ', argv, 128): words split at spaces
-- outside quotes, a backslash protecting the next byte, each word cleaned
-- up; past 127 words the 128th holds the rest of the line, spaces and all.
function M.mod_lua_args(line)
	local sp = line:find(" ", 1, true)
	if not sp then
		return line, {}
	end
	local script, s = line:sub(1, sp - 1), line:sub(sp + 1)
	local words, cur, i, inside = {}, nil, 1, false
	local state = "start"
	while i <= #s and #words < M.MOD_LUA_MAX_ARGS do
		local c = s:sub(i, i)
		if state == "start" then
			cur = {}
			words[#words + 1] = cur
			state = "skip"
		elseif state == "skip" then
			if c == " " then
				cur[#cur + 1] = c
				i = i + 1
			else
				state = "word"
			end
		elseif state == "word" then
			if c == "\\" then
				cur[#cur + 1] = c
				cur[#cur + 1] = s:sub(i + 1, i + 1)
				i = i + 2
			elseif c == " " and not inside then
				state = "end"
				i = i + 1
			else
				if c == "'" then inside = not inside end
				cur[#cur + 1] = c
				i = i + 1
			end
		elseif c == " " then
			i = i + 1
		else
			state = "start"
		end
	end
	if #words == M.MOD_LUA_MAX_ARGS and i <= #s then
		-- the split stops as the 128th word starts: it keeps the rest of
		-- the line, spaces and all
		for j = i, #s do cur[#cur + 1] = s:sub(j, j) end
	end
	local argv = {}
	for k, w in ipairs(words) do
		argv[k] = cleanup(w, nil)
	end
	return script, argv
end

local function expand(s, vars)
	return (s:gsub("%${([^}]*)}", function(k) return vars[k] or "" end))
end

-- split_hook splits a hook command as the switch's api_hook does
-- (src/switch_core_state_machine.c): at its first ':' when a second ':'
-- follows it, else at its first space. switch_api_execute then strips
-- both parts of surrounding spaces.
function M.split_hook(hook)
	local cmd, arg
	local i = hook:find(":", 1, true)
	if i and hook:sub(i + 1, i + 1) == ":" then
		cmd, arg = hook:sub(1, i - 1), hook:sub(i + 2)
	else
		local sp = hook:find(" ", 1, true)
		cmd, arg = sp and hook:sub(1, sp - 1) or hook, sp and hook:sub(sp + 1) or ""
	end
	local function strip(x) return (x:gsub("^%s+", ""):gsub("%s+$", "")) end
	return strip(cmd), strip(arg)
end

-- end_call is the lua app returning on the A-leg: the call hangs up (if the
-- caller has not) and the switch runs the api_hangup_hook.
function Switch:end_call(a)
	a:hangup(a.cause or "NORMAL_CLEARING")
	-- The hangup state runs api_hangup_hook, then the reporting state runs
	-- api_reporting_hook; each by its exact name, one command each.
	for _, var in ipairs({ "api_hangup_hook", "api_reporting_hook" }) do
		local hook = a.vars[var]
		if hook and hook ~= "" then
			local cmd, arg = M.split_hook(hook)
			arg = expand(arg, a.vars)
			self.hooks_run[#self.hooks_run + 1] = cmd .. " " .. arg
			local use = a.vars.session_in_hangup_hook == "true" and a or nil
			self:api(cmd, arg, use)
		end
	end
end

----------------------------------------------------------------------------
-- Dbh: freeswitch.Dbh("sqlite://PATH") over the sqlite3 command-line tool,
-- with what freeswitch_lua.cpp's Dbh does: query(sql [, callback]) returns
-- true, or false on an SQL error (last_error() tells); the callback gets
-- each row as a table {column = value}, NULL as "", and a number (or a
-- numeric string) other than 0 returned from it stops the rows; an error
-- raised in it stops them too, and is logged. connected(), release(),
-- affected_rows() (rows changed by the last query without a callback).

local US, RS = "\031", "\030" -- unit and record separators: never in the tests' data

local Dbh = {}
Dbh.__index = Dbh

local function shell_quote(s)
	return "'" .. s:gsub("'", "'\\''") .. "'"
end

function M.Dbh(sw, dsn)
	local path = type(dsn) == "string" and dsn:match("^sqlite://(.+)$")
	return setmetatable({ sw = sw, path = path, ok = path ~= nil, changes = 0 }, Dbh)
end

function Dbh:connected()
	return self.ok
end

function Dbh:release()
	self.ok = false
end

function Dbh:last_error()
	return self.err
end

function Dbh:affected_rows()
	return self.changes
end

-- exec runs sql and returns the rows (arrays of values), the column names,
-- or nil and the error.
function Dbh:exec(sql)
	local tmp = os.tmpname()
	local f = assert(io.open(tmp, "w"))
	f:write(sql, ";\n")
	f:close()
	local cmd = "sqlite3 -batch -bail -header -separator " .. shell_quote(US) .. " -newline " .. shell_quote(RS)
		.. " -nullvalue '' " .. shell_quote(self.path) .. " < " .. shell_quote(tmp) .. " 2>" .. shell_quote(tmp .. ".err")
	local p = assert(io.popen(cmd, "r"))
	local out = p:read("*a")
	p:close()
	local ef = io.open(tmp .. ".err")
	local err = ef and ef:read("*a") or ""
	if ef then ef:close() end
	os.remove(tmp)
	os.remove(tmp .. ".err")
	if err ~= "" then
		return nil, err
	end
	local rows = {}
	for rec in out:gmatch("([^" .. RS .. "]*)" .. RS) do
		local vals = {}
		for v in (rec .. US):gmatch("([^" .. US .. "]*)" .. US) do
			vals[#vals + 1] = v
		end
		rows[#rows + 1] = vals
	end
	local names = table.remove(rows, 1) or {}
	return rows, names
end

function Dbh:query(sql, callback)
	self.err = nil
	if not self.ok then
		return false
	end
	if sql == nil or sql == "" then
		self.sw:log("ERR", "Missing SQL query.")
		return false
	end
	if not callback then
		sql = sql .. ";\nSELECT changes() AS fsmock_changes"
	end
	local rows, names = self:exec(sql)
	if not rows then
		self.err = names
		self.sw:log("ERR", "SQL ERR: [" .. sql .. "] " .. names)
		return false
	end
	if not callback then
		self.changes = tonumber(rows[#rows] and rows[#rows][1]) or 0
		return true
	end
	for _, vals in ipairs(rows) do
		local row = {}
		for i, name in ipairs(names) do
			row[name] = vals[i] or ""
		end
		local ok, ret = pcall(callback, row)
		if not ok then
			self.sw:log("ERR", "lua: " .. tostring(ret))
			break
		end
		if (tonumber(ret) or 0) ~= 0 then
			break
		end
	end
	return true
end

function Switch:make_freeswitch()
	local sw = self
	local fs = {}
	fs.Dbh = function(dsn)
		return M.Dbh(sw, dsn)
	end
	fs.Session = function(ds, a)
		return sw:originate(ds, a)
	end
	fs.bridge = function(a, b)
		return sw:bridge(a, b)
	end
	fs.consoleLog = function(level, msg)
		sw:log(level, msg)
	end
	fs.getGlobalVariable = function(name)
		return sw.globals[name]
	end
	-- Event(type, subclass): addHeader and fire, as switch_cpp.cpp's Event;
	-- fired events are kept in sw.events, in order.
	sw.events = sw.events or {}
	fs.Event = function(etype, subclass)
		local e = { type = etype, subclass = subclass, headers = {} }
		function e:addHeader(k, v)
			assert(type(k) == "string" and type(v) == "string", "addHeader takes strings")
			self.headers[k] = v
			return true
		end
		function e:fire()
			sw.events[#sw.events + 1] = self
			M.fired[#M.fired + 1] = self
			return true
		end
		return e
	end
	-- msleep lets the virtual clock pass; a script in a thread of its own
	-- is suspended meanwhile, until the switch has something for it (an
	-- event delivered, the switch stopping), as its thread would sleep.
	fs.msleep = function(ms)
		sw.t = sw.t + ms / 1000
		if sw:in_thread() then
			coroutine.yield()
		end
	end
	fs.running = function()
		return sw.running ~= false
	end
	fs.EventConsumer = function(event, subclass, len)
		return sw:consumer(event, subclass, len)
	end
	fs.API = function()
		return { execute = function(_, cmd, arg) return sw:api(cmd, arg) end,
			executeString = function(_, s)
				local cmd, arg = s:match("^(%S+)%s*(.*)$")
				return sw:api(cmd, arg)
			end }
	end
	return fs
end

return M
