-- testlib.lua: what the Lua test files share: loading the fresh build of
-- ringlb.so and nothing else, assertions, and the runner. Each test file
-- takes the build directory as its first argument:
--
--   lua5.3 tests/api/api_test.lua build/lua5.3
--
-- and is run by its directory's run.sh FLAVOUR (tests/lib.sh).
local T = {}

-- load_ringlb makes so_dir/ringlb.so the only ringlb that require can
-- find, loads it, and returns it with its path. An installed copy
-- elsewhere is reported, never used.
function T.load_ringlb(so_dir)
	assert(so_dir and so_dir ~= "", "usage: lua TEST.lua SO_DIR")
	assert(package.loaded.ringlb == nil and package.preload.ringlb == nil, "ringlb is preloaded")
	local fresh = so_dir .. "/ringlb.so"
	local f = io.open(fresh, "rb")
	assert(f, "no ringlb.so in " .. so_dir)
	f:close()
	for tmpl in package.cpath:gmatch("[^;]+") do
		local p = (tmpl:gsub("%?", "ringlb"))
		local g = p ~= fresh and io.open(p, "rb")
		if g then
			g:close()
			io.stdout:write("note: an installed " .. p .. " exists; it is not on the test cpath\n")
		end
	end
	package.cpath = so_dir .. "/?.so"
	local ringlb = require "ringlb"
	if package.searchpath then
		assert(package.searchpath("ringlb", package.cpath) == fresh, "require would load another ringlb.so")
	end
	T.ringlb = ringlb
	return ringlb, fresh
end

-- drop_all_holds drops every hold of every memory balancer of the process.
-- They share their members' loads, as every group of a switch does, and
-- tests share members (user/1001...): run calls it after each case, so
-- that none sees the calls another left up. The end of a member's last
-- answered call stays, as in a switch: a case with a wrap-up uses members
-- of its own.
local function drop_all_holds()
	local ringlb = T.ringlb
	if not ringlb then return end
	for _, name in ipairs(ringlb.list() or {}) do
		local b = ringlb.get(name)
		local s = b and b:snapshot()
		if s and s.backend == "memory" then
			for _, d in ipairs(s.destinations or {}) do
				b:reset(d.dest)
			end
		end
	end
end

-- eq fails unless got equals want.
function T.eq(want, got, what)
	if want ~= got then
		error((what or "value") .. ": want " .. tostring(want) .. ", got " .. tostring(got), 2)
	end
end

-- ok fails with what unless cond holds.
function T.ok(cond, what)
	if not cond then
		error(what or "assertion failed", 2)
	end
end

-- has fails unless text contains every plain string given.
function T.has(text, ...)
	for _, s in ipairs({ ... }) do
		if not text:find(s, 1, true) then
			error("output lacks " .. string.format("%q", s) .. ":\n" .. text, 2)
		end
	end
end

-- expect_err checks the nil, message, code convention of expected failures.
function T.expect_err(code, a, b, c)
	if a ~= nil then error("want nil, got " .. tostring(a), 2) end
	if type(b) ~= "string" or not b:find("^ringlb: ") then
		error("want a ringlb: message, got " .. tostring(b), 2)
	end
	if c ~= code then
		error("want code " .. code .. ", got " .. tostring(c) .. " (" .. tostring(b) .. ")", 2)
	end
end

local unique = tostring(os.time()) .. "-" .. tostring(math.random(1e9))

-- name makes a balancer name no other run of the tests uses.
function T.name(s)
	return s .. "-" .. unique
end

-- run runs cases ({name, function} pairs) each under pcall, prints a line
-- per case and "<title>: N passed, M failed", and exits 1 on any failure.
function T.run(title, cases)
	local passed, failed = 0, 0
	for _, c in ipairs(cases) do
		local ok, err = pcall(c[2])
		drop_all_holds()
		if ok then
			passed = passed + 1
			io.stdout:write("ok   " .. c[1] .. "\n")
		else
			failed = failed + 1
			io.stdout:write("FAIL " .. c[1] .. ": " .. tostring(err) .. "\n")
		end
	end
	io.stdout:write(string.format("%s: %d passed, %d failed\n", title, passed, failed))
	os.exit(failed == 0 and 0 or 1)
end

return T
