-- FusionPBX ring groups with the balancing strategy, through the scripted
-- switch (tests/ring/fsmock.lua) and the real ringlb.so:
--
--   lua5.3 tests/fusionpbx/run_tests.lua build/lua5.3 [redis-url]
--
-- Each test builds a FusionPBX server of its own: an SQLite database made
-- from schema.sql (FusionPBX's tables and columns), rows for domains, ring
-- groups, members, extensions, follow-me, e-mail templates; a directory made
-- from the extension rows (as FusionPBX's XML handler serves it); a script
-- directory with an app.lua that runs app/ring_groups/index.lua as FusionPBX's
-- does, and an index.lua whose first line of code is the line
-- `ringlb-fusionpbx on` adds (cmd/ringlb-fusionpbx/hook.lua), followed by a
-- stand-in for the rest of FusionPBX's script. A call is the ring group's
-- dialplan: ring_group_uuid set, `lua app.lua ring_groups`.
--
-- With a Redis URL, two such servers in two processes share one Redis.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."
package.path = here .. "/../?.lua;" .. package.path
local T = require "testlib"
local ringlb, fresh = T.load_ringlb(arg[1])
local cpath = arg[1] .. "/?.so"
local redis_url = arg[2]
package.path = root .. "/lua/?.lua;" .. root .. "/tests/ring/?.lua"
io.stdout:write(string.format("testing %s %s from %s under %s\n", ringlb._NAME, ringlb._VERSION, fresh,
	jit and jit.version or _VERSION))

local fsmock = require "fsmock"
local eq, ok = T.eq, T.ok

local function read(p)
	local f = assert(io.open(p, "rb"))
	local s = f:read("*a")
	f:close()
	return s
end

local function write(p, s)
	local f = assert(io.open(p, "wb"))
	f:write(s)
	f:close()
end

local function sh(cmd)
	local okx, how, code = os.execute(cmd)
	assert(okx == true or okx == 0, "command failed (" .. tostring(how) .. " " .. tostring(code) .. "): " .. cmd)
end

local function q(v)
	if v == nil then return "NULL" end
	if type(v) == "number" then return tostring(v) end
	if type(v) == "boolean" then return v and "'true'" or "'false'" end
	return "'" .. tostring(v):gsub("'", "''") .. "'"
end

local HOOK = read(root .. "/cmd/ringlb-fusionpbx/hook.lua")
local LUA_CONF = root .. "/freeswitch-conf/autoload_configs/lua.conf.xml"

local nids = 0
local function uuid(kind)
	nids = nids + 1
	return string.format("%08x-0000-4000-8000-%012d", os.time() % 0xffffffff, nids) .. (kind and ("-" .. kind) or "")
end

----------------------------------------------------------------------------
-- A FusionPBX server.

local Fpbx = {}
Fpbx.__index = Fpbx

local nservers = 0

-- server returns a FusionPBX server with its own database, scripts and
-- switch; opts.globals are more global variables; the balancer's
-- user_domains is set to keep, or to ignore with opts.keep = false, and
-- left unset (its default) with opts.keep = "default".
local function server(opts)
	opts = opts or {}
	nservers = nservers + 1
	local dir = os.tmpname()
	os.remove(dir)
	sh("mkdir -p " .. dir .. "/rec && cp -r " .. here .. "/scripts " .. dir .. "/scripts && mkdir -p " .. dir
		.. "/scripts/app/ring_groups && ln -s " .. root .. "/lua/ringlb_*.lua " .. dir .. "/scripts/")
	-- FusionPBX's script: a comment header, the hook, then what FusionPBX
	-- does for every other strategy (here: a variable saying it ran).
	write(dir .. "/scripts/app/ring_groups/index.lua", "-- A stand-in for FusionPBX's ring group script.\n"
		.. "--\n" .. HOOK .. "session:setVariable(\"fixture_fusionpbx_rang\", \"true\")\n")
	local db = dir .. "/fusionpbx.db"
	sh("sqlite3 " .. db .. " < " .. here .. "/schema.sql")
	local name = opts.name or string.format("fpbx%d_%d", nservers, os.time())
	local g = {
		fixture_dsn = "sqlite://" .. db, fixture_scripts_dir = dir .. "/scripts",
		fixture_recordings_dir = dir .. "/rec",
		ringlb_fusionpbx_balancer = name, ringlb_track = name,
	}
	if opts.keep == false then
		g["ringlb_" .. name .. "_user_domains"] = "ignore"
	elseif opts.keep ~= "default" then
		g["ringlb_" .. name .. "_user_domains"] = "keep"
	end
	for k, v in pairs(opts.globals or {}) do g[(k:gsub("NAME", name))] = v end
	local sw = fsmock.new({
		script_dir = dir .. "/scripts",
		path = root .. "/lua/?.lua;" .. dir .. "/scripts/?.lua",
		cpath = cpath, globals = g, directory = {}, lua_conf = LUA_CONF, node = opts.node,
	})
	for _, r in ipairs(sw:start()) do
		assert(r[1], "startup script: " .. tostring(r[2]))
	end
	return setmetatable({ sw = sw, dir = dir, db = db, name = name, domains = {}, unregistered = {} }, Fpbx)
end

function Fpbx:sql(sql)
	local tmp = self.dir .. "/q.sql"
	write(tmp, sql .. ";\n")
	sh("sqlite3 -bail " .. self.db .. " < " .. tmp)
end

function Fpbx:rows(sql)
	local dbh = fsmock.Dbh(self.sw, "sqlite://" .. self.db)
	local out = {}
	assert(dbh:query(sql, function(r) out[#out + 1] = r end), dbh:last_error())
	return out
end

function Fpbx:insert(tbl, row)
	local ks, vs = {}, {}
	for k, v in pairs(row) do
		ks[#ks + 1] = k
		vs[#vs + 1] = q(v)
	end
	self:sql("INSERT INTO " .. tbl .. " (" .. table.concat(ks, ",") .. ") VALUES (" .. table.concat(vs, ",") .. ")")
end

function Fpbx:domain(name)
	if not self.domains[name] then
		self.domains[name] = uuid("dom")
		self:insert("v_domains", { domain_uuid = self.domains[name], domain_name = name, domain_enabled = true })
	end
	return self.domains[name]
end

-- extension adds an extension of domain with the given columns; the
-- directory is made again from v_extensions.
function Fpbx:extension(domain, ext, cols)
	local row = { extension_uuid = uuid("ext"), domain_uuid = self:domain(domain), extension = ext, enabled = true }
	for k, v in pairs(cols or {}) do row[k] = v end
	self:insert("v_extensions", row)
	self:directory()
end

-- DIRECTORY_VARS are the user variables FusionPBX's directory carries from
-- an extension's row (the ones ring groups read).
local DIRECTORY_VARS = { "do_not_disturb", "forward_all_enabled", "forward_all_destination",
	"forward_user_not_registered_enabled", "forward_user_not_registered_destination", "follow_me_enabled",
	"user_record", "toll_allow", "extension_uuid" }

function Fpbx:directory()
	local d = {}
	for _, r in ipairs(self:rows("SELECT e.*, d.domain_name FROM v_extensions e, v_domains d "
		.. "WHERE e.domain_uuid = d.domain_uuid")) do
		local u = { id = r.extension }
		for _, v in ipairs(DIRECTORY_VARS) do
			if r[v] ~= "" then u[v] = r[v] end
		end
		local key = r.extension .. "@" .. r.domain_name
		u.registered = not self.unregistered[key]
		d[key] = u
		if r.number_alias ~= "" then d[r.number_alias .. "@" .. r.domain_name] = u end
	end
	self.sw.directory = d
end

function Fpbx:unregister(who)
	self.unregistered[who] = true
	self:directory()
end

-- group adds a ring group; g.members is a list of numbers or of tables
-- {number=, timeout=, delay=, prompt=, enabled=}.
function Fpbx:group(g)
	local id = uuid("rg")
	local dom = g.domain or "a.example"
	self:insert("v_ring_groups", {
		ring_group_uuid = id, domain_uuid = self:domain(dom), ring_group_name = g.name or ("Group " .. (g.extension or "9000")),
		ring_group_extension = g.extension or "9000", ring_group_strategy = g.strategy or "balancing",
		ring_group_call_timeout = g.call_timeout or 60, ring_group_enabled = g.enabled ~= false,
		ring_group_timeout_app = g.timeout_app, ring_group_timeout_data = g.timeout_data,
		ring_group_forward_enabled = g.forward_enabled or false, ring_group_forward_destination = g.forward_destination,
		ring_group_call_forward_enabled = g.call_forward_enabled or false,
		ring_group_follow_me_enabled = g.follow_me_enabled or false,
		ring_group_call_screen_enabled = g.call_screen_enabled or false,
		ring_group_missed_call_app = g.missed_call_app, ring_group_missed_call_data = g.missed_call_data,
		ring_group_greeting = g.greeting, ring_group_cid_name_prefix = g.cid_name_prefix,
		ring_group_ringback = g.ringback, ring_group_distinctive_ring = g.distinctive_ring,
		ring_group_exit_key = g.exit_key,
	})
	for i, m in ipairs(g.members or {}) do
		if type(m) ~= "table" then m = { number = m } end
		self:insert("v_ring_group_destinations", {
			ring_group_destination_uuid = uuid("rgd"), domain_uuid = self:domain(dom), ring_group_uuid = id,
			destination_number = m.number, destination_delay = m.delay or 0, destination_timeout = m.timeout or 20,
			destination_enabled = m.enabled == false and "false" or "true", destination_prompt = m.prompt,
		})
	end
	if g.user_uuid then
		self:insert("v_ring_group_users", { ring_group_user_uuid = uuid("rgu"), domain_uuid = self:domain(dom),
			ring_group_uuid = id, user_uuid = g.user_uuid })
	end
	return id
end

-- call is a caller dialling the group: the ring group's dialplan sets
-- ring_group_uuid and runs app.lua; the call ends when the script returns.
function Fpbx:call(group, opts)
	opts = opts or {}
	local vars = { ring_group_uuid = group, domain_name = opts.domain or "a.example", context = opts.domain or "a.example",
		caller_id_name = "Caller", caller_id_number = opts.from or "0301234567", destination_number = "9000" }
	for k, v in pairs(opts.vars or {}) do vars[k] = v end
	local a = self.sw:call({ vars = vars, hangup_at = opts.hangup_at })
	local okr, err = self.sw:run_script("app.lua", { "ring_groups" }, a)
	ok(okr, "app.lua ran: " .. tostring(err))
	if opts.keep_up then
		return a
	end
	self.sw:end_call(a)
	return a
end

-- b returns the balancer the groups count on.
function Fpbx:b()
	return assert(ringlb.get(self.name))
end

function Fpbx:state(member)
	local s = assert(self:b():snapshot())
	for _, d in ipairs(s.destinations) do
		if d.dest == member then return d end
	end
	return { active = 0, ringing = 0, talking = 0, answered = 0 }
end

-- idle checks that nothing is held any more.
function Fpbx:idle()
	local s = assert(self:b():snapshot())
	eq(0, #s.holds, "holds left")
	for _, d in ipairs(s.destinations) do
		eq(0, d.active, "active calls of " .. d.dest)
	end
end

-- legs returns the endpoints rung since index from.
function Fpbx:legs(from)
	local out = {}
	for i = (from or 0) + 1, #self.sw.legs do
		out[#out + 1] = self.sw.legs[i].dest
	end
	return table.concat(out, " ")
end

function Fpbx:events(kind)
	local out = {}
	for _, e in ipairs(self.sw.events) do
		if e.type == kind or e.subclass == kind then out[#out + 1] = e end
	end
	return out
end

-- fourth returns a server with domain a.example (or g.domain), extensions
-- 1001-1004 and 1099, and a balancing group 9000 of 1001-1004 (20 s each).
local function four(opts, g)
	local fp = server(opts)
	for _, e in ipairs({ "1001", "1002", "1003", "1004", "1099" }) do
		fp:extension(g and g.domain or "a.example", e)
	end
	g = g or {}
	g.members = g.members or { "1001", "1002", "1003", "1004" }
	return fp, fp:group(g)
end

local U = function(n, d) return "user/" .. n .. "@" .. (d or "a.example") end

-- all scripts what each of 1001-1004 of a.example (or dom) does on its
-- next rings.
function Fpbx:all(behaviour, dom)
	for _, e in ipairs({ "1001", "1002", "1003", "1004" }) do
		self.sw:behave(U(e, dom), behaviour)
	end
end

local tests = {}
local function test(name, f)
	tests[#tests + 1] = { name, f }
end

----------------------------------------------------------------------------

test("the scripted switch's Dbh answers like freeswitch.Dbh", function()
	local fp = server()
	fp:domain("a.example")
	local dbh = fp.sw.freeswitch.Dbh("sqlite://" .. fp.db)
	ok(dbh:connected(), "connected")
	local n = 0
	ok(dbh:query("SELECT 1 AS v UNION ALL SELECT 2 AS v", function() n = n + 1; return 1 end), "query")
	eq(1, n, "a callback returning 1 stops the rows")
	n = 0
	dbh:query("SELECT 1 AS v UNION ALL SELECT 2 AS v", function() n = n + 1; return true end)
	eq(2, n, "true goes on (lua_tonumber(true) is 0)")
	n = 0
	dbh:query("SELECT 1 AS v UNION ALL SELECT 2 AS v", function() n = n + 1; return "1" end)
	eq(1, n, "a numeric string stops")
	local row
	dbh:query("SELECT NULL AS a, 'x' AS b", function(r) row = r end)
	eq("", row.a, "NULL is an empty string")
	eq("x", row.b, "value")
	eq(false, dbh:query("SELECT nope FROM nowhere", function() end), "an SQL error is false")
	ok(dbh:last_error():find("no such table"), "last_error: " .. tostring(dbh:last_error()))
	ok(dbh:query("UPDATE v_domains SET domain_description = 'd'"), "update")
	eq(1, dbh:affected_rows(), "affected rows")
	dbh:release()
	ok(not dbh:connected(), "released")
end)

test("balancing spreads calls evenly over the members; everything released after", function()
	local fp, g = four()
	fp:all({ answer = 2, talk = 30 })
	local got = {}
	for _ = 1, 40 do
		local a = fp:call(g)
		eq("answered", a:getVariable("ringlb_result"), "result")
		local m = a:getVariable("ringlb_answered_dest")
		got[m] = (got[m] or 0) + 1
		eq(nil, a:getVariable("fixture_fusionpbx_rang"), "FusionPBX's own ringing did not run")
	end
	for _, e in ipairs({ "1001", "1002", "1003", "1004" }) do
		eq(10, got[U(e)], "answered calls of " .. e)
		eq(10, fp:state(U(e)).answered, "answered count of " .. e)
	end
	eq(40, #fp.sw.legs, "one leg per call: the least loaded member answered each time")
	fp:idle()
end)

test("a member on a call is not offered another: group calls, direct calls, other ring groups", function()
	local fp, g = four()
	fp:all({ answer = 1, talk = 30 })
	local seen = {}
	-- While each call talks, the next caller arrives: 4 calls at once.
	fp.sw.on_bridge = function(sw, a)
		seen[#seen + 1] = a:getVariable("ringlb_answered_dest")
		if #seen < 4 then fp:call(g) end
	end
	fp:call(g)
	fp.sw.on_bridge = nil
	table.sort(seen)
	eq(table.concat({ U("1001"), U("1002"), U("1003"), U("1004") }, " "), table.concat(seen, " "), "four members, four calls")
	fp:idle()

	-- A call dialled straight to 1001 (FusionPBX's local extension bridges
	-- user/1001@domain): counted by the tracker, the group skips 1001.
	local direct = fp.sw:call()
	local leg = fp.sw:originate(U("1001"), direct)
	eq(1, fp:state(U("1001")).active, "the direct call counts on user/1001@a.example")
	local from = #fp.sw.legs
	for _ = 1, 3 do
		local a = fp:call(g)
		ok(a:getVariable("ringlb_answered_dest") ~= U("1001"), "1001 is on a direct call")
	end
	ok(not fp:legs(from):find(U("1001"), 1, true), "1001 never rung: " .. fp:legs(from))
	leg:hangup("NORMAL_CLEARING")
	fp.sw:end_call(direct)

	-- Another FusionPBX ring group (simultaneous) reaches 1002 at its
	-- registered contact, with dialed_extension and presence_id on the leg.
	local other = fp.sw:call()
	fp.sw:behave("sofia/internal/sip:1002@192.0.2.7:5060", { answer = 1 })
	local leg2 = fp.sw:originate("{ignore_early_media=true}[dialed_extension=1002,domain_name=a.example,"
		.. "presence_id=1002@a.example]sofia/internal/sip:1002@192.0.2.7:5060", other)
	eq(1, fp:state(U("1002")).active, "a leg of another ring group counts on user/1002@a.example")
	local a = fp:call(g)
	ok(a:getVariable("ringlb_answered_dest") ~= U("1002"), "1002 is busy in another group")
	leg2:hangup("NORMAL_CLEARING")
	fp.sw:end_call(other)
	-- An outbound leg that only inherited dialed_extension (1003's forward
	-- to a mobile, say) is not a leg to 1003: no presence_id of 1003.
	local fwd = fp.sw:call()
	fp.sw:behave("loopback/0612", { answer = 1 })
	local leg3 = fp.sw:originate("{dialed_extension=1003,domain_name=a.example}loopback/0612", fwd)
	eq(0, fp:state(U("1003")).active, "not counted on 1003")
	leg3:hangup("NORMAL_CLEARING")
	fp.sw:end_call(fwd)
	fp:idle()
end)

test("wrap-up, capacity and ties come from the balancer's global variables", function()
	-- A domain of its own: the calls earlier tests' groups answered on
	-- a.example's members (the balancers of a switch share them) would
	-- start this group's wrap-up of theirs.
	local D = "w.example"
	local fp, g = four({ globals = { ringlb_NAME_tie = "list", ringlb_NAME_wrapup = "60", ringlb_NAME_capacity = "1" } },
		{ timeout_app = "transfer", timeout_data = "*99 XML " .. D, domain = D })
	local call = function() return fp:call(g, { domain = D }) end
	fp:all({ answer = 1, talk = 5 }, D)
	eq(U("1001", D), call():getVariable("ringlb_answered_dest"), "list ties: 1001 first")
	eq(U("1002", D), call():getVariable("ringlb_answered_dest"), "1001 in wrap-up: 1002")
	ok(fp:state(U("1001", D)).wrapup_until > 0, "1001's wrap-up shows")
	-- 1001 and 1002 are in wrap-up; two calls at once fill 1003 and 1004
	-- (capacity 1); a third finds nobody with room and goes to the timeout
	-- action at once.
	local third, n = nil, 0
	fp.sw.on_bridge = function(sw, a)
		n = n + 1
		if n == 1 then
			call()
		elseif n == 2 then
			third = call()
		end
	end
	call()
	fp.sw.on_bridge = nil
	eq("all_busy", third:getVariable("ringlb_result"), "third call: in wrap-up or at capacity")
	eq("*99 XML " .. D, third.transferred, "timeout action")
	eq(U("1003", D) .. " " .. U("1004", D), fp:legs(2), "rung: 1003, 1004, and for the third call nobody")
	fp:idle()
end)

test("other strategies are rung by FusionPBX's script, untouched", function()
	local fp = server()
	fp:extension("a.example", "1001")
	for _, s in ipairs({ "simultaneous", "sequence", "enterprise", "random", "rollover", "" }) do
		local g = fp:group({ strategy = s, members = { "1001" } })
		local n = #fp.sw.legs
		local a = fp:call(g)
		eq("true", a:getVariable("fixture_fusionpbx_rang"), s .. ": FusionPBX's script went on")
		eq(n, #fp.sw.legs, s .. ": ringlb rang nothing")
		eq(nil, a:getVariable("ringlb_result"), s .. ": no ringlb result")
	end
	-- A call that is not a ring group's, too.
	local a = fp.sw:call()
	fp.sw:run_script("app.lua", { "ring_groups" }, a)
	eq("true", a:getVariable("fixture_fusionpbx_rang"), "no ring_group_uuid")
end)

test("do-not-disturb: the member is not rung", function()
	local fp = server()
	fp:extension("a.example", "1001")
	fp:extension("a.example", "1002", { do_not_disturb = true })
	fp:extension("a.example", "1003")
	local g = fp:group({ members = { "1001", "1002", "1003" } })
	for _, e in ipairs({ "1001", "1002", "1003" }) do fp.sw:behave(U(e), { answer = 1, talk = 5 }) end
	for _ = 1, 6 do
		local a = fp:call(g)
		eq(U("1002"), a:getVariable("ringlb_dnd_skipped"), "skipped")
	end
	ok(not fp:legs():find("1002", 1, true), "1002 never rung: " .. fp:legs())
	eq(3, fp:state(U("1001")).answered, "1001 took half")
	eq(3, fp:state(U("1003")).answered, "1003 took half")
	ok(fp.sw:logged("do not disturb: " .. U("1002")), "logged")
	fp:idle()
end)

test("call-forward-all: the member's turn rings where it forwards, counted as the member", function()
	local fp = server()
	fp:extension("a.example", "1001", { forward_all_enabled = true, forward_all_destination = "1098" })
	fp:extension("a.example", "1098", { forward_all_enabled = true, forward_all_destination = "1099" })
	fp:extension("a.example", "1099")
	fp:extension("a.example", "1002", { forward_all_enabled = true, forward_all_destination = "0612345678" })
	local g = fp:group({ members = { "1001", "1002" }, call_forward_enabled = true })
	fp.sw:behave(U("1099"), { answer = 2, talk = 10 })
	fp.sw:behave("loopback/0612345678", { answer = 3, talk = 10 })
	local a1 = fp:call(g)
	local a2 = fp:call(g)
	eq(U("1001"), a1:getVariable("ringlb_answered_dest"), "first call: 1001's turn")
	eq(U("1002"), a2:getVariable("ringlb_answered_dest"), "second call: 1002's turn")
	eq(U("1099") .. " loopback/0612345678", fp:legs(), "rung: 1001's forward (two hops), 1002's mobile")
	eq(1, fp:state(U("1001")).answered, "counted on 1001")
	-- With the group's forward setting off, the extension itself rings.
	local g2 = fp:group({ extension = "9001", members = { "1001" } })
	fp.sw:behave(U("1001"), { answer = 1, talk = 1 })
	fp:call(g2)
	ok(fp:legs(2):find(U("1001"), 1, true), "forward not followed: " .. fp:legs(2))
	fp:idle()
end)

test("follow-me: the member's destinations ring together in its turn", function()
	local fp = server()
	local fm = uuid("fm")
	local dom = fp:domain("a.example")
	fp:extension("a.example", "1004", { follow_me_enabled = true, follow_me_uuid = fm })
	fp:extension("a.example", "1001")
	fp:insert("v_follow_me", { follow_me_uuid = fm, domain_uuid = dom, follow_me_enabled = true })
	for i, d in ipairs({ { "1004", 0, 10 }, { "0612345678", 5, 20 }, { "0799", 40, 20 } }) do
		fp:insert("v_follow_me_destinations", { follow_me_uuid = fm, follow_me_destination_uuid = uuid("fmd"),
			domain_uuid = dom, follow_me_destination = d[1], follow_me_delay = d[2], follow_me_timeout = d[3],
			follow_me_order = i })
	end
	local g = fp:group({ members = { { number = "1004", timeout = 30 } }, follow_me_enabled = true })
	fp.sw:behave(U("1004"), { no_answer = true })
	fp.sw:behave("loopback/0612345678", { answer = 3, talk = 10 })
	local a = fp:call(g)
	eq(U("1004"), a:getVariable("ringlb_answered_dest"), "answered on 1004's mobile, counted as 1004")
	local ds = fp.sw.last_dialstring
	ok(ds:find("[^,]*leg_timeout=10[^%]]*%]user/1004@a.example"), "1004 rings its own 10 s: " .. ds)
	ok(ds:find("leg_delay_start=5,leg_timeout=25[^%]]*%]loopback/0612345678"), "the mobile from 5 s to 25 s: " .. ds)
	ok(not ds:find("0799", 1, true), "a destination whose delay is past the turn is left out: " .. ds)
	ok(ds:find("ringlb_dest=user/1004@a.example", 1, true), "the legs are 1004's: " .. ds)
	eq(8, fp.sw.legs[2].at, "the mobile answered 3 s after its 5 s delay")
	eq(U("1004") .. " loopback/0612345678", fp:legs(), "both legs rang in one turn")
	fp:idle()
end)

test("not registered: the member's turn goes to its forward_user_not_registered destination", function()
	local fp = server()
	fp:extension("a.example", "1001", { forward_user_not_registered_enabled = true,
		forward_user_not_registered_destination = "0711" })
	fp:extension("a.example", "1002")
	fp:extension("a.example", "1003")
	fp:unregister("1001@a.example")
	fp:unregister("1002@a.example")
	local g = fp:group({ members = { "1001", "1002", "1003" } })
	fp.sw:behave("loopback/0711", { no_answer = true })
	fp.sw:behave(U("1003"), { answer = 1, talk = 5 })
	local a = fp:call(g)
	eq(U("1003"), a:getVariable("ringlb_answered_dest"), "answered by 1003")
	eq("loopback/0711 " .. U("1002") .. " " .. U("1003"), fp:legs(), "1001's forward, then 1002 (fails at once), then 1003")
	eq("USER_NOT_REGISTERED", fp.sw.legs[2].cause, "1002 not registered")
	eq(20, fp.sw.legs[2].at, "1002 failed at once, after 1001's 20 s")
	fp:idle()
end)

test("the group's call timeout runs by elapsed time; then the timeout action and the missed-call e-mail", function()
	local fp = server()
	local dom = fp:domain("a.example")
	for _, e in ipairs({ "1001", "1002", "1003", "1004" }) do fp:extension("a.example", e) end
	fp:insert("v_email_templates", { email_template_uuid = uuid("t"), domain_uuid = dom, template_language = "en-us",
		template_category = "missed", template_subcategory = "default", template_enabled = true,
		template_subject = "Missed call from ${caller_id_name} <${caller_id_number}>",
		template_body = "Ring group ${ring_group_name} (${ring_group_extension}) missed ${caller_id_number}" })
	local g = fp:group({ members = { { number = "1001", timeout = 10 }, { number = "1002", timeout = 10 },
		{ number = "1003", timeout = 10 }, { number = "1004", timeout = 10 } }, call_timeout = 25,
		timeout_app = "transfer", timeout_data = "*99 XML a.example",
		missed_call_app = "email", missed_call_data = "boss@a.example", user_uuid = "u-1" })
	local a = fp:call(g)
	eq("no_answer", a:getVariable("ringlb_result"), "result")
	eq("call_timeout", a:getVariable("ringlb_result_detail"), "stopped by the group's timeout")
	eq(25, fp.sw.t, "25 s of ringing: 10 + 10 + 5")
	eq(3, #fp.sw.legs, "three members rung")
	eq(5, fp.sw.legs[3].at - fp.sw.legs[3].start, "the last turn cut to the time left")
	eq("*99 XML a.example", a.transferred, "the timeout action ran")
	eq("true", a:getVariable("missed_call"), "missed_call")
	local q1 = fp:rows("SELECT * FROM v_email_queue")
	eq(1, #q1, "one e-mail queued")
	eq("boss@a.example", q1[1].email_to, "to")
	eq("=?utf-8?B?" .. require("ringlb.fusionpbx").base64("Missed call from Caller <0301234567>") .. "?=",
		q1[1].email_subject, "subject")
	eq("Ring group Group 9000 (9000) missed 0301234567", q1[1].email_body, "body")
	local ev = fp:events("RING_GROUPS")
	eq(1, #ev, "one RING_GROUPS event")
	eq("missed", ev[1].headers.status, "status")
	eq(g, ev[1].headers.ring_group_uuid, "ring_group_uuid")
	eq("u-1", ev[1].headers.user_uuid, "user_uuid")
	eq("9000", ev[1].headers.ring_group_extension, "extension")
	eq(a:get_uuid(), ev[1].headers.call_uuid, "call_uuid")
	fp:idle()

	-- Every member busy: each tried once at once, then the timeout action.
	fp:all({ busy = true })
	local t0 = fp.sw.t
	local b = fp:call(g)
	eq("all_busy", b:getVariable("ringlb_result"), "all busy")
	eq(t0, fp.sw.t, "no time spent")
	eq("*99 XML a.example", b.transferred, "the timeout action ran")
	eq(2, #fp:rows("SELECT * FROM v_email_queue"), "a second e-mail")
	fp:idle()
end)

test("the caller hangs up while members ring: missed, nothing left held", function()
	local fp, g = four({}, { timeout_app = "transfer", timeout_data = "*99 XML a.example" })
	local a = fp:call(g, { hangup_at = 30 })
	eq("caller_gone", a:getVariable("ringlb_result"), "result")
	eq(2, #fp.sw.legs, "second member rang when the caller left")
	eq(nil, a.transferred, "no timeout action for a caller who left")
	eq("missed", fp:events("RING_GROUPS")[1].headers.status, "missed")
	fp:idle()
end)

test("two domains with the same extension numbers never share a member", function()
	local fp = server()
	for _, d in ipairs({ "a.example", "b.example" }) do
		fp:extension(d, "1001")
		fp:extension(d, "1002")
	end
	local ga = fp:group({ domain = "a.example", members = { "1001", "1002" } })
	local gb = fp:group({ domain = "b.example", members = { "1001", "1002" } })
	for _, d in ipairs({ "a.example", "b.example" }) do
		fp.sw:behave(U("1001", d), { answer = 1, talk = 30 })
		fp.sw:behave(U("1002", d), { answer = 1, talk = 30 })
	end
	local inner
	fp.sw.on_bridge = function(sw, a)
		if a:getVariable("domain_name") == "b.example" then
			eq(1, fp:state(U("1001", "b.example")).active, "b's 1001 talking")
			eq(0, fp:state(U("1001", "a.example")).active, "a's 1001 free")
			inner = fp:call(ga)
		end
	end
	local b = fp:call(gb, { domain = "b.example" })
	fp.sw.on_bridge = nil
	eq(U("1001", "b.example"), b:getVariable("ringlb_answered_dest"), "b's call: b's 1001")
	eq(U("1001", "a.example"), inner:getVariable("ringlb_answered_dest"), "a's call meanwhile: a's 1001, not 1002")
	eq(1, fp:state(U("1001", "a.example")).answered, "a's 1001 answered once")
	eq(1, fp:state(U("1001", "b.example")).answered, "b's 1001 answered once")
	fp:idle()
end)

test("prompts and screening: a member counts as answered once it confirms", function()
	local fp = server()
	for _, e in ipairs({ "1001", "1002" }) do fp:extension("a.example", e) end
	local g = fp:group({ members = { { number = "1001", prompt = 1 }, "1002" } })
	fp.sw:behave(U("1001"), { answer = 2, confirm = "2" }) -- picks up, presses 2
	fp.sw:behave(U("1002"), { answer = 2, talk = 5 })
	local a = fp:call(g)
	eq(U("1002"), a:getVariable("ringlb_answered_dest"), "1001 refused, 1002 took it")
	eq("CALL_REJECTED", fp.sw.legs[1].cause, "1001's leg")
	ok(fp.sw.legs[1].vars.group_confirm_file == "lua " .. fp.dir .. "/scripts/confirm.lua",
		"FusionPBX's confirm script: " .. tostring(fp.sw.legs[1].vars.group_confirm_file))
	eq(nil, fp.sw.legs[2].vars.confirm, "no prompt for 1002")
	eq(0, fp:state(U("1001")).answered, "1001 not counted as answered")
	eq(1, fp:state(U("1002")).answered, "1002 answered")
	fp:idle()

	-- Screening: the caller records a name, every member is asked.
	local gs = fp:group({ extension = "9001", members = { "1001", "1002" }, call_screen_enabled = true })
	fp.sw:behave(U("1001"), { answer = 2, confirm = "1", talk = 5 })
	local s = fp:call(gs)
	eq("answered", s:getVariable("ringlb_result"), "answered after confirming")
	local rec = fp.sw.recorded[#fp.sw.recorded]
	ok(rec:find("/a.example/archive/.*/call_screen%." .. s:get_uuid():gsub("%-", "%%-") .. "%.wav$"), "name recorded: " .. rec)
	eq("true", fp.sw.legs[#fp.sw.legs].vars.confirm, "screened")
	fp:idle()
end)

test("ring group forward: the call goes to the forward destination, nobody rings", function()
	local fp, g = four({}, { forward_enabled = true, forward_destination = "5555" })
	local a = fp:call(g)
	eq("5555 XML a.example", a.transferred, "transferred")
	eq("forwarded", a:getVariable("ringlb_result"), "result")
	eq(0, #fp.sw.legs, "nobody rung")
end)

test("presence, the RING_GROUPS event, and what FusionPBX sets up around an answered call", function()
	local fp, g = four({}, { greeting = "welcome.wav", cid_name_prefix = "Sales", ringback = "us-ring",
		distinctive_ring = "<http://${domain_name}/ring>;info=alert-internal", exit_key = "5",
		timeout_app = "transfer", timeout_data = "*99 XML a.example" })
	fp:sql("UPDATE v_extensions SET user_record = 'all' WHERE extension = '1001'")
	fp:directory()
	fp.sw:behave(U("1001"), { answer = 1, talk = 5 })
	local a = fp:call(g, { vars = { ring_group_send_presence = "true" } })
	local p = fp:events("PRESENCE_IN")
	eq(2, #p, "two presence events")
	eq("9000@a.example early", p[1].headers.from .. " " .. p[1].headers["answer-state"], "early")
	eq("9000@a.example terminated", p[2].headers.from .. " " .. p[2].headers["answer-state"], "terminated")
	eq("answered", fp:events("RING_GROUPS")[1].headers.status, "answered")
	eq(fp.dir .. "/rec/a.example/welcome.wav", fp.sw.played[1], "greeting played")
	eq("Sales#Caller", a:getVariable("effective_caller_id_name"), "caller ID name prefix")
	ok(fp.sw.legs[1].vars.presence_id == "1001@a.example", "the member's leg carries its presence_id")
	eq("${us-ring}", a:getVariable("ringback"), "ringback")
	eq("<http://a.example/ring>;info=alert-internal", a:getVariable("sip_h_Alert-Info"), "distinctive ring")
	local binds = {}
	for _, x in ipairs(fp.sw.executed) do
		if x.app == "bind_digit_action" then binds[#binds + 1] = x.data end
	end
	eq("local,5,exec:transfer,*99 XML a.example,both,self", binds[1], "exit key")
	eq(a:get_uuid() .. ".wav", a:getVariable("record_name"), "recorded: 1001 records all calls")
	ok(a:getVariable("record_path"):find("/rec/a.example/archive/", 1, true), "record path")
	fp:idle()
end)

-- Regression: FusionPBX's balancer needed ringlb_fusionpbx_user_domains=keep
-- set by hand; without it balancing rang in list order. keep is its default,
-- for the ring and the call tracker alike (ringlb.options).
test("user_domains=keep is the FusionPBX balancer's default: the tracker and the ring count per domain", function()
	local fp, g = four({ keep = "default" })
	ok(not fp.sw.globals["ringlb_" .. fp.name .. "_user_domains"], "not set")
	fp:all({ answer = 1, talk = 5 })
	-- A direct call first: the tracker opens the balancer.
	local direct = fp.sw:call()
	local leg = fp.sw:originate(U("1001"), direct)
	eq(1, fp:state(U("1001")).active, "the tracker counts user/1001@a.example")
	local got = {}
	for _ = 1, 3 do
		got[#got + 1] = fp:call(g):getVariable("ringlb_answered_dest")
	end
	table.sort(got)
	eq(U("1002") .. " " .. U("1003") .. " " .. U("1004"), table.concat(got, " "), "balanced, 1001 skipped")
	ok(not fp.sw:logged("user_domains"), "nothing to say")
	leg:hangup("NORMAL_CLEARING")
	fp.sw:end_call(direct)
	fp:idle()
end)

test("without user_domains=keep the group rings in list order and says why", function()
	local fp, g = four({ keep = false })
	fp:all({ answer = 1, talk = 5 })
	for _ = 1, 3 do
		eq(U("1001"), fp:call(g):getVariable("ringlb_answered_dest"), "list order")
	end
	ok(fp.sw:logged("ringlb_" .. fp.name .. "_user_domains=keep"), "logged")
end)

test("ring groups status from fs_cli", function()
	local fp, g = four()
	local out
	fp.sw.on_bridge = function(sw)
		out = sw:api("lua", "ringlb_fusionpbx.lua status 9000@a.example")
	end
	fp.sw:behave(U("1001"), { answer = 1, talk = 5 })
	fp:call(g)
	T.has(out, "ring group 9000@a.example", "strategy balancing", "MEMBER", U("1001"), U("1004"))
	ok(out:find(U("1001") .. "%s+1%s+0%s+1%s+1%s"), "1001 talking in the status:\n" .. out)
	local none = fp.sw:api("lua", "ringlb_fusionpbx.lua status 9999@a.example")
	T.has(none, "-ERR no ring group 9999@a.example")
end)

----------------------------------------------------------------------------
-- Several FusionPBX switches on one Redis (run.sh passes the URL).

-- REDIS_TIMEOUT, seconds, bounds the Redis operations of both switches:
-- this test measures no timeout, and a call that missed the default 250 ms
-- on a loaded machine would ring in list order instead.
local REDIS_TIMEOUT = "5"

if redis_url then
	test("two switches (two processes) on one Redis balance together", function()
		local name = "fpbx_redis_" .. os.time() .. "_" .. math.random(1e6)
		local fp, g = four({ name = name, globals = { ringlb_NAME_url = redis_url, ringlb_NAME_redis_timeout = REDIS_TIMEOUT } })
		fp:all({ answer = 1, talk = 30 })
		local other
		fp.sw.on_bridge = function(sw, a)
			-- While this switch's caller talks to its member, the other
			-- switch (another process, its own Go runtime) rings the group.
			local p = assert(io.popen(table.concat({ arg[-1] or "lua", arg[0], arg[1], redis_url, "--node", name }, " ")))
			other = p:read("*a")
			p:close()
		end
		local a = fp:call(g)
		local mine = a:getVariable("ringlb_answered_dest")
		local theirs = other:match("answered (%S+)")
		ok(theirs, "the other switch answered: " .. tostring(other))
		ok(theirs ~= mine, "the other switch saw " .. mine .. " busy and rang " .. tostring(theirs))
		ok(other:find("backend redis", 1, true), "the other switch used Redis: " .. other)
		fp:idle()
	end)
end

-- --node NAME: the other switch of the Redis test: one call to the same
-- group, printed.
if arg[3] == "--node" then
	local fp, g = four({ name = arg[4], node = "node2", globals = { ringlb_NAME_url = redis_url, ringlb_NAME_redis_timeout = REDIS_TIMEOUT } })
	fp:all({ answer = 1, talk = 1 })
	local a = fp:call(g)
	print("answered " .. tostring(a:getVariable("ringlb_answered_dest")) .. " backend " .. fp:b():snapshot().backend)
	os.exit(0)
end

T.run("FusionPBX ring groups, " .. (jit and jit.version or _VERSION), tests)
