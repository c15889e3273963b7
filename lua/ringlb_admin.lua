-- ringlb_admin.lua: see and steer the ringlb balancers of this switch from
-- fs_cli. For in-memory balancers, whose state lives only inside FreeSWITCH;
-- it works for Redis-backed ones too (ringlbctl does the same from outside).
--
--   fs_cli -x "lua ringlb_admin.lua status sales"
--   fs_cli -x "lua ringlb_admin.lua holds sales [user/1001 ...]"
--   fs_cli -x "lua ringlb_admin.lua drain sales user/1001 [...]"
--   fs_cli -x "lua ringlb_admin.lua undrain sales user/1001 [...]"
--   fs_cli -x "lua ringlb_admin.lua reset sales user/1001 [...]"
--   fs_cli -x "lua ringlb_admin.lua list"
--
-- Output goes to the API stream (what fs_cli prints) when mod_lua provides
-- one, else to the console log, else to stdout. Action lines start with
-- "+OK", failures with "-ERR", as FreeSWITCH API commands do. The chunk
-- returns true on success and false on failure, for tests; it never raises
-- and never calls os.exit (that would stop the switch).
--
-- The `lua` API command runs every script in a fresh lua_State, so the
-- balancer is found by name in the process-wide registry with ringlb.get,
-- whatever options the dialplan opened it with.

local USAGE = [[
usage: lua ringlb_admin.lua COMMAND BALANCER [DEST...]
  status  BALANCER          active calls, capacity and drained flag per destination
  holds   BALANCER [DEST..] live holds (one per call) with node and age
  drain   BALANCER DEST..   take destinations out of rotation (calls keep counting)
  undrain BALANCER DEST..   put drained destinations back
  reset   BALANCER DEST..   drop every hold on destinations (repair stuck counts)
  list                      balancers open in this switch
example: fs_cli -x "lua ringlb_admin.lua status sales"
]]

-- out writes text where an operator sees it.
local function out(s)
	if type(stream) == "table" or type(stream) == "userdata" then
		stream:write(s)
	elseif freeswitch and freeswitch.consoleLog then
		freeswitch.consoleLog("INFO", s)
	else
		io.write(s)
	end
end

local function fail(msg)
	if msg:sub(-1) ~= "\n" then msg = msg .. "\n" end
	out("-ERR " .. msg)
	return false
end

-- duration renders whole seconds the way ringlbctl (Go) does: 5s, 2m5s, 1h0m5s.
local function duration(sec)
	sec = math.floor(sec + 0.5)
	if sec < 0 then sec = 0 end
	local h, m, s = math.floor(sec / 3600), math.floor(sec % 3600 / 60), sec % 60
	if h > 0 then
		return string.format("%dh%dm%ds", h, m, s)
	elseif m > 0 then
		return string.format("%dm%ds", m, s)
	end
	return string.format("%ds", s)
end

-- table_text lays rows of cells out in columns two spaces apart.
local function table_text(rows)
	local width = {}
	for _, r in ipairs(rows) do
		for i, c in ipairs(r) do
			if #c > (width[i] or 0) then width[i] = #c end
		end
	end
	local lines = {}
	for _, r in ipairs(rows) do
		local cells = {}
		for i, c in ipairs(r) do
			if i < #r then
				cells[i] = c .. string.rep(" ", width[i] - #c + 2)
			else
				cells[i] = c
			end
		end
		lines[#lines + 1] = table.concat(cells) .. "\n"
	end
	return table.concat(lines)
end

local function plural(n, what)
	if n == 1 then return "1 " .. what end
	return n .. " " .. what .. "s"
end

local function dest_of(snap, dest)
	for _, d in ipairs(snap.destinations) do
		if d.dest == dest then return d end
	end
	return nil
end

local commands = {}

function commands.status(b, name, args, snap)
	if #args > 0 then
		return fail("status takes no destinations\n" .. USAGE)
	end
	local now = os.time()
	local rows = { { "DEST", "ACTIVE", "CAPACITY", "DRAINED", "STARTED", "LAST CALL" } }
	local active, drained = 0, 0
	for _, d in ipairs(snap.destinations) do
		local cap = "-"
		if d.capacity > 0 then cap = tostring(d.capacity) end
		local last = "never"
		if d.last_hold > 0 then last = duration(now - d.last_hold) .. " ago" end
		rows[#rows + 1] = { d.dest, tostring(d.active), cap, d.drained and "yes" or "no",
			tostring(d.started), last }
		active = active + d.active
		if d.drained then drained = drained + 1 end
	end
	out(string.format("balancer %s (%s) at %s\n", snap.name, snap.backend, os.date("!%Y-%m-%dT%H:%M:%SZ", now)))
	out(table_text(rows))
	out(string.format("%s, %d drained, %s\n", plural(#snap.destinations, "destination"), drained,
		plural(active, "active call")))
	return true
end

function commands.holds(b, name, args, snap)
	local want
	if #args > 0 then
		want = {}
		for _, d in ipairs(args) do want[d] = true end
	end
	local now = os.time()
	local rows = { { "DEST", "CALL ID", "NODE", "AGE", "LAPSES IN" } }
	for _, h in ipairs(snap.holds) do
		if not want or want[h.dest] then
			local lapses = "never"
			if h.expires > 0 then lapses = duration(h.expires - now) end
			rows[#rows + 1] = { h.dest, h.call_id, h.node, duration(now - h.start), lapses }
		end
	end
	if #rows == 1 then
		out(name .. ": no holds\n")
	else
		out(table_text(rows))
		out(plural(#rows - 1, "hold") .. "\n")
	end
	return true
end

local function set_drained(drain)
	local verb = drain and "drained" or "undrained"
	return function(b, name, args, snap)
		for _, dest in ipairs(args) do
			local was = dest_of(snap, dest)
			local ok, err
			if drain then ok, err = b:drain(dest) else ok, err = b:undrain(dest) end
			if not ok then
				return fail(tostring(err))
			end
			if was and was.drained == drain then
				out(string.format("+OK %s: %s was %s\n", name, dest, drain and "already drained" or "not drained"))
			elseif not was then
				out(string.format("+OK %s: %s %s (new to this balancer: check the spelling)\n", name, verb, dest))
			elseif drain and was.active > 0 then
				local what = "1 active call keeps counting until it ends"
				if was.active > 1 then
					what = was.active .. " active calls keep counting until they end"
				end
				out(string.format("+OK %s: drained %s (%s)\n", name, dest, what))
			else
				out(string.format("+OK %s: %s %s\n", name, verb, dest))
			end
		end
		return true
	end
end

commands.drain = set_drained(true)
commands.undrain = set_drained(false)

function commands.reset(b, name, args, snap)
	for _, dest in ipairs(args) do
		local n, err = b:reset(dest)
		if not n then
			return fail(tostring(err))
		end
		local note = ""
		if not dest_of(snap, dest) then note = " (new to this balancer: check the spelling)" end
		out(string.format("+OK %s: reset %s, dropped %s%s\n", name, dest, plural(n, "hold"), note))
	end
	return true
end

local NEEDS_DESTS = { drain = true, undrain = true, reset = true }

local function main(args)
	local ok, ringlb = pcall(require, "ringlb")
	if not ok then
		return fail("cannot load the ringlb module: " .. tostring(ringlb))
	end
	local cmd, name = args[1], args[2]
	if cmd == nil or cmd == "help" or cmd == "-h" or cmd == "--help" then
		out(USAGE)
		return cmd ~= nil
	end
	if cmd == "list" then
		if not ringlb.list then
			return fail("this ringlb module cannot list balancers (no ringlb.list); name one: status BALANCER")
		end
		local names, err = ringlb.list()
		if not names then return fail(tostring(err)) end
		if #names == 0 then
			out("no balancers open in this switch\n")
		else
			out(table.concat(names, "\n") .. "\n")
		end
		return true
	end
	local run = commands[cmd]
	if not run then
		return fail("unknown command " .. string.format("%q", cmd) .. "\n" .. USAGE)
	end
	if name == nil or name == "" then
		return fail(cmd .. ": missing balancer name\n" .. USAGE)
	end
	local dests = {}
	for i = 3, #args do dests[#dests + 1] = args[i] end
	if NEEDS_DESTS[cmd] and #dests == 0 then
		return fail(cmd .. ": missing destination\n" .. USAGE)
	end
	local b, err, code = ringlb.get(name)
	if not b then
		if code == "unknown" then
			return fail(tostring(err) .. " (balancers appear when the first call opens them)")
		end
		return fail(tostring(err))
	end
	local snap, serr = b:snapshot()
	if not snap then
		return fail(tostring(serr))
	end
	return run(b, name, dests, snap)
end

-- mod_lua passes the words after the script name in the global argv; the
-- standalone interpreter uses arg.
local ok, res = pcall(main, argv or arg or {})
if not ok then
	return fail("ringlb_admin: " .. tostring(res))
end
return res
