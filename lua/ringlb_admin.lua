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
  status  BALANCER          active calls (ringing, talking), capacity, drained, answered calls per destination
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

-- status and holds print the tables ringlbctl prints, rendered in Go.
function commands.status(b, name, args)
	if #args > 0 then
		return fail("status takes no destinations\n" .. USAGE)
	end
	local text, err = b:report("status")
	if not text then return fail(tostring(err)) end
	out(text)
	return true
end

function commands.holds(b, name, args)
	local text, err = b:report("holds", args)
	if not text then return fail(tostring(err)) end
	out(text)
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
