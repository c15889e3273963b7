-- admin_test.lua SO_DIR: lua/ringlb_admin.lua as fs_cli runs it
-- ("lua ringlb_admin.lua status sales"), with the real ringlb.so and a
-- scripted stand-in for mod_lua's `stream`. Each row runs under pcall: a row
-- that raises fails, and so does a script run that raises, because the
-- script runs inside the switch.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local T = require "testlib"
local ringlb = T.load_ringlb(arg[1])
package.path = "lua/?.lua"
local script = assert(loadfile("lua/ringlb_admin.lua"))
local eq, has, name = T.eq, T.has, T.name

-- fake_stream records what the script writes, as mod_lua's stream would
-- hand it to fs_cli.
local function fake_stream()
	local s = { buf = {} }
	function s:write(text)
		assert(type(text) == "string", "stream:write of a " .. type(text))
		self.buf[#self.buf + 1] = text
	end
	function s:text() return table.concat(self.buf) end
	return s
end

-- admin runs the script like `fs_cli -x "lua ringlb_admin.lua <line>"`:
-- mod_lua splits the words after the script name into the global argv,
-- argv[0] being the script. It returns the output and the chunk's result.
local function admin(line)
	local st = fake_stream()
	_G.stream = st
	_G.argv = { [0] = "ringlb_admin.lua" }
	for w in line:gmatch("%S+") do _G.argv[#_G.argv + 1] = w end
	local ok, res = pcall(script)
	_G.stream, _G.argv = nil, nil
	if not ok then
		error("script raised: " .. tostring(res), 2)
	end
	return st:text(), res
end

local function row(text, ...)
	local cells = { ... }
	for i, c in ipairs(cells) do
		cells[i] = c:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
	end
	local pat = "\n" .. table.concat(cells, " +") .. "[ \n]"
	if not ("\n" .. text):find(pat) then
		error("no row " .. table.concat({ ... }, " | ") .. " in:\n" .. text, 2)
	end
end

local function contains(list, v)
	for _, x in ipairs(list) do
		if x == v then return true end
	end
	return false
end

-- sales opens a balancer the way a dialplan would, with options, and gives
-- it holds: user/1001 two calls, user/1002 one; user/1003 had one call.
local function sales(s)
	local n = name(s)
	local b = assert(ringlb.open(n, { capacity = 3, tie = "list" }))
	assert(b:acquire("user/1001", "call-a"))
	assert(b:acquire("user/1001", "call-b"))
	assert(b:answered("user/1001", "call-b"))
	assert(b:acquire("user/1002", "call-c"))
	assert(b:acquire("user/1003", "call-d"))
	assert(b:release("user/1003", "call-d"))
	return n, b
end

local D = { "user/1001", "user/1002", "user/1003" }

local cases = {
	{ "module has ringlb.get (the admin script's way in)", function()
		eq("function", type(ringlb.get))
	end },
	{ "status: table of a balancer opened with options", function()
		local n = sales("status")
		local out, ok = admin("status " .. n)
		eq(true, ok, "result")
		has(out, "balancer " .. n .. " (memory) at ",
			"3 destinations, 0 drained, 3 active calls (2 ringing, 1 talking)\n")
		row(out, "DEST", "ACTIVE", "RINGING", "TALKING", "CAPACITY", "DRAINED", "STARTED", "ANSWERED", "SCORE",
			"WRAP-UP", "LAST CALL")
		row(out, "user/1001", "2", "1", "1", "3", "no", "2", "1", "1.0", "-")
		row(out, "user/1002", "1", "1", "0", "3", "no", "1", "0", "0.0", "-")
		row(out, "user/1003", "0", "0", "0", "3", "no", "1", "0", "0.0", "-")
	end },
	{ "holds: one row per call, with node and age", function()
		local n = sales("holds")
		local out, ok = admin("holds " .. n)
		eq(true, ok, "result")
		row(out, "DEST", "CALL ID", "STATE", "NODE", "AGE", "LAPSES IN")
		row(out, "user/1001", "call-a", "ringing", "local")
		row(out, "user/1001", "call-b", "talking", "local")
		row(out, "user/1002", "call-c", "ringing", "local")
		has(out, "3 holds\n")
		assert(not out:find("call-d", 1, true), "released hold listed")
	end },
	{ "holds: destinations narrow the list", function()
		local n = sales("holds-dest")
		local out = admin("holds " .. n .. " user/1002")
		row(out, "user/1002", "call-c", "ringing", "local")
		has(out, "1 hold\n")
		assert(not out:find("call-a", 1, true), "user/1001 listed")
		eq(n .. ": no holds\n", (admin("holds " .. n .. " user/1003")))
	end },
	{ "drain: takes a member out of rotation, its calls keep counting", function()
		local n, b = sales("drain")
		local out, ok = admin("drain " .. n .. " user/1001")
		eq(true, ok, "result")
		eq("+OK " .. n .. ": drained user/1001 (2 active calls keep counting until they end)\n", out)
		assert(not contains(b:order(D), "user/1001"), "drained member still in order")
		eq(2, b:load("user/1001"), "load of the drained member")
		local _, _, code = b:acquire("user/1001", "call-x")
		eq("drained", code, "acquire of a drained member")
		eq("+OK " .. n .. ": user/1001 was already drained\n", (admin("drain " .. n .. " user/1001")))
		row((admin("status " .. n)), "user/1001", "2", "1", "1", "3", "yes")
	end },
	{ "drain: several members, a new one flagged as a possible typo", function()
		local n = sales("drain-many")
		local out = admin("drain " .. n .. " user/1002 user/1009")
		eq("+OK " .. n .. ": drained user/1002 (1 active call keeps counting until it ends)\n" ..
			"+OK " .. n .. ": drained user/1009 (new to this balancer: check the spelling)\n", out)
	end },
	{ "undrain: puts it back", function()
		local n, b = sales("undrain")
		assert(b:drain("user/1002"))
		local out, ok = admin("undrain " .. n .. " user/1002")
		eq(true, ok, "result")
		eq("+OK " .. n .. ": undrained user/1002\n", out)
		assert(contains(b:order(D), "user/1002"), "undrained member not in order")
		eq("+OK " .. n .. ": user/1002 was not drained\n", (admin("undrain " .. n .. " user/1002")))
	end },
	{ "away and rejoin: an agent on a break, then back at its group's mean", function()
		local n, b = sales("away")
		local out, ok = admin("away " .. n .. " user/1003")
		eq(true, ok, "result")
		eq("+OK " .. n .. ": user/1003 is away: it rejoins when its next call shows it back\n", out)
		out, ok = admin("rejoin " .. n .. " user/1003")
		eq(true, ok, "result")
		eq("+OK " .. n .. ": user/1003 rejoins: lifted to the mean score of its group at its next ranking\n", out)
		assert(contains(b:order(D), "user/1003"), "a rejoined member is in rotation")
	end },
	{ "reset: drops the holds of a member", function()
		local n, b = sales("reset")
		local out, ok = admin("reset " .. n .. " user/1001")
		eq(true, ok, "result")
		eq("+OK " .. n .. ": reset user/1001, dropped 2 holds\n", out)
		eq(0, b:load("user/1001"), "load after reset")
		eq(1, b:load("user/1002"), "other member's load")
		eq("+OK " .. n .. ": reset user/1001, dropped 0 holds\n", (admin("reset " .. n .. " user/1001")))
	end },
	{ "unknown balancer: -ERR, nothing created", function()
		local n = name("nosuch")
		local out, ok = admin("status " .. n)
		eq(false, ok, "result")
		has(out, "-ERR ringlb: ", n)
		local _, _, code = ringlb.get(n)
		eq("unknown", code, "the admin script must not open the balancer")
	end },
	{ "usage errors: -ERR and the usage text, never a raise", function()
		local n = sales("usage")
		for _, line in ipairs({ "frob " .. n, "drain " .. n, "reset " .. n, "undrain " .. n, "away " .. n, "rejoin " .. n,
			"status", "status " .. n .. " user/1001" }) do
			local out, ok = admin(line)
			eq(false, ok, line)
			assert(out:find("^%-ERR "), line .. ": no -ERR: " .. out)
			has(out, "usage: lua ringlb_admin.lua")
		end
		local out, ok = admin("")
		eq(false, ok, "no arguments")
		has(out, "usage: lua ringlb_admin.lua", 'fs_cli -x "lua ringlb_admin.lua status sales"')
		out, ok = admin("help")
		eq(true, ok, "help")
		has(out, "usage: lua ringlb_admin.lua")
	end },
	{ "list: the balancers open in this process", function()
		local n = sales("list")
		local out, ok = admin("list")
		if ringlb.list then
			eq(true, ok, "result")
			has(out, n .. "\n")
		else
			eq(false, ok, "result")
			has(out, "-ERR ", "ringlb.list")
		end
	end },
	{ "Redis down: -ERR with the backend error, never a raise", function()
		local n = name("redis-down")
		assert(ringlb.open(n, { url = "redis://127.0.0.1:1/0", timeout = 0.5 }))
		local out, ok = admin("status " .. n)
		eq(false, ok, "result")
		has(out, "-ERR ringlb: ")
		out, ok = admin("drain " .. n .. " user/1001")
		eq(false, ok, "drain result")
		has(out, "-ERR ringlb: ")
	end },
	{ "without stream: freeswitch.consoleLog gets the text", function()
		local n = sales("console")
		local logged = {}
		_G.freeswitch = { consoleLog = function(level, text) logged[#logged + 1] = level .. ":" .. text end }
		_G.argv = { [0] = "ringlb_admin.lua", "drain", n, "user/1003" }
		local ok, res = pcall(script)
		_G.freeswitch, _G.argv = nil, nil
		assert(ok, res)
		eq(true, res, "result")
		eq("INFO:+OK " .. n .. ": drained user/1003\n", table.concat(logged))
	end },
	{ "without stream or freeswitch: stdout", function()
		local n = sales("stdout")
		local written = {}
		local real = io.write
		io.write = function(...) for _, s in ipairs({ ... }) do written[#written + 1] = s end end
		_G.argv = { [0] = "ringlb_admin.lua", "undrain", n, "user/1003" }
		local ok, res = pcall(script)
		io.write, _G.argv = real, nil
		assert(ok, res)
		eq("+OK " .. n .. ": user/1003 was not drained\n", table.concat(written))
	end },
}

T.run((jit and jit.version or _VERSION) .. " admin", cases)
