-- ringlb_admin.lua: see and steer the ringlb balancers of this switch from
-- fs_cli. For in-memory balancers, whose state lives only inside FreeSWITCH;
-- it works for Redis-backed ones too (ringlbctl does the same from outside).
--
--   fs_cli -x "lua ringlb_admin.lua status sales"
--   fs_cli -x "lua ringlb_admin.lua holds sales [user/1001 ...]"
--   fs_cli -x "lua ringlb_admin.lua drain sales user/1001 [...]"
--   fs_cli -x "lua ringlb_admin.lua undrain sales user/1001 [...]"
--   fs_cli -x "lua ringlb_admin.lua away sales user/1001 [...]"
--   fs_cli -x "lua ringlb_admin.lua rejoin sales user/1001 [...]"
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
  status  BALANCER          active calls (ringing, talking), capacity, drained or out for no answer, answered calls per destination
  holds   BALANCER [DEST..] live holds (one per call) with node and age
  drain   BALANCER DEST..   take destinations out of rotation (calls keep counting)
  undrain BALANCER DEST..   put drained destinations back
  away    BALANCER DEST..   mark agents absent (break, do-not-disturb) without draining them
  rejoin  BALANCER DEST..   mark agents back: lifted to their group's mean score, not ahead of it;
                            ends their no-answer back-off (offered again if out for no answer)
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

-- drain, undrain, away, rejoin and reset print the lines ringlbctl prints,
-- rendered in Go.
local function act(action)
	return function(b, name, args)
		local lines, err, _, done = b:act(action, args)
		for _, line in ipairs(lines or done or {}) do
			out("+OK " .. line .. "\n")
		end
		if not lines then
			return fail(tostring(err))
		end
		return true
	end
end

commands.drain = act("drain")
commands.undrain = act("undrain")
commands.away = act("away")
commands.rejoin = act("rejoin")
commands.reset = act("reset")

local NEEDS_DESTS = { drain = true, undrain = true, away = true, rejoin = true, reset = true }

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
	return run(b, name, dests)
end

-- mod_lua passes the words after the script name in the global argv; the
-- standalone interpreter uses arg.
local ok, res = pcall(main, argv or arg or {})
if not ok then
	return fail("ringlb_admin: " .. tostring(res))
end
return res
