-- switch_events.lua: ringlb.switch_events, and the tracker's consumer on it,
-- in tests/c/switch_events.c's host, whose event core (`host`) behaves as
-- the switch's. The last line is "N passed, M failed".
local ringlb = require("ringlb")
local LUA_DIR = assert(package.path:match("^([^;]*)/%?%.lua;"), "package.path starts with the lua/ directory")

local passed, failed = 0, 0
local function test(name, f)
	local ok, err = pcall(f)
	if ok then
		passed = passed + 1
		print("ok   " .. name)
	else
		failed = failed + 1
		print("FAIL " .. name .. ": " .. tostring(err))
		host.stop_consumer() -- so that the next test starts alone
	end
end
local function eq(want, got, what)
	if want ~= got then
		error(what .. ": want " .. tostring(want) .. ", got " .. tostring(got), 2)
	end
end

-- eventually waits (30 s at most) until f() is true.
local function eventually(f, what)
	local deadline = os.time() + 30
	while not f() do
		if os.time() > deadline then
			error("not within 30 s: " .. what, 2)
		end
		host.msleep(5)
	end
end

local function spec(extra)
	local s = { events = { "CHANNEL_CREATE", "CHANNEL_ANSWER" },
		headers = { "Event-Name", "Unique-ID", "variable_user_name", "variable_dialed_user" },
		any = { "variable_user_name", "variable_dialed_user" } }
	for k, v in pairs(extra or {}) do
		s[k] = v
	end
	return s
end

test("an event of a type bound, carrying an `any` header, is queued as a copy of the headers named", function()
	local src = assert(ringlb.switch_events(spec()))
	eq(2, host.bindings(), "bindings in the switch")
	host.fire("CHANNEL_CREATE", { ["Unique-ID"] = "u1", variable_user_name = "1001", variable_other = "x" })
	host.flush() -- delivered, and the switch's event overwritten and freed
	local e = src:pop(0)
	eq("CHANNEL_CREATE", e["Event-Name"], "Event-Name")
	eq("u1", e["Unique-ID"], "Unique-ID")
	eq("1001", e.variable_user_name, "variable_user_name")
	eq(nil, e.variable_other, "a header not named")
	eq(nil, e.variable_dialed_user, "a header named that the event lacks")
	eq(nil, src:pop(0), "one event, one copy")
	src:close()
	eq(0, host.bindings(), "bindings after close")
end)

test("an event with no `any` header set, with it empty, or of a type not bound is not queued", function()
	local src = assert(ringlb.switch_events(spec()))
	host.fire("CHANNEL_CREATE", { ["Unique-ID"] = "inbound-leg" })
	host.fire("CHANNEL_ANSWER", { ["Unique-ID"] = "empty", variable_user_name = "" })
	host.fire("CHANNEL_HANGUP_COMPLETE", { ["Unique-ID"] = "not-bound", variable_user_name = "1001" })
	host.fire("CHANNEL_ANSWER", { ["Unique-ID"] = "second-any", variable_dialed_user = "1002" })
	host.flush()
	local e = src:pop(0)
	eq("second-any", e and e["Unique-ID"], "the only event queued")
	eq(nil, src:pop(0), "nothing else")
	eq(0, src:dropped(), "nothing dropped: the others were never wanted")
	src:close()
end)

test("header names match without regard to case, as the switch's; the copy is keyed as named", function()
	local src = assert(ringlb.switch_events(spec()))
	host.fire("CHANNEL_CREATE", { ["UNIQUE-ID"] = "u2", VARIABLE_USER_NAME = "1003" })
	host.flush()
	local e = src:pop(0)
	eq("u2", e["Unique-ID"], "Unique-ID")
	eq("1003", e.variable_user_name, "variable_user_name")
	src:close()
end)

test("pop waits for an event the switch delivers meanwhile, and gives nil once its time is up", function()
	local src = assert(ringlb.switch_events(spec()))
	local t0 = host.now()
	eq(nil, src:pop(50), "nothing within 50 ms")
	local waited = host.now() - t0
	if waited < 0.045 then
		error(string.format("pop(50) returned after %.3f s", waited))
	end
	-- Delivered 200 ms into a wait of 20 s: woken by the event, not by the
	-- end of the wait (well under it however slow the machine).
	host.fire_after(200, "CHANNEL_ANSWER", { ["Unique-ID"] = "later", variable_user_name = "1004" })
	t0 = host.now()
	local e = src:pop(20000)
	waited = host.now() - t0
	eq("later", e and e["Unique-ID"], "the event delivered meanwhile")
	if waited > 15 then
		error(string.format("pop woke %.1f s later, at the end of its wait", waited))
	end
	src:close()
end)

test("closing a source while the switch delivers to it: nothing lost, nothing left bound", function()
	for i = 1, 200 do
		local src = assert(ringlb.switch_events(spec()))
		for j = 1, 20 do
			host.fire("CHANNEL_CREATE", { ["Unique-ID"] = "c" .. i .. "-" .. j, variable_user_name = "1008" })
		end
		if i % 2 == 0 then
			src:pop(0)
		end
		src:close()
	end
	host.flush()
	eq(0, host.bindings(), "bindings")
end)

test("a full queue drops and counts what does not fit; the queued events stay in order", function()
	local src = assert(ringlb.switch_events(spec({ queue = 3 })))
	for i = 1, 5 do
		host.fire("CHANNEL_CREATE", { ["Unique-ID"] = "q" .. i, variable_user_name = "1005" })
	end
	host.flush()
	for i = 1, 3 do
		local e = src:pop(0)
		eq("q" .. i, e and e["Unique-ID"], "event " .. i)
	end
	eq(nil, src:pop(0), "the two that did not fit")
	eq(2, src:dropped(), "dropped")
	host.fire("CHANNEL_CREATE", { ["Unique-ID"] = "q6", variable_user_name = "1005" })
	host.flush()
	eq("q6", src:pop(0)["Unique-ID"], "room again once popped")
	src:close()
end)

test("an event whose values pass 16 KB is dropped and counted, not cut", function()
	local src = assert(ringlb.switch_events(spec()))
	host.fire("CHANNEL_CREATE", { ["Unique-ID"] = "big", variable_user_name = string.rep("x", 17000) })
	host.flush()
	eq(nil, src:pop(0), "not queued")
	eq(1, src:dropped(), "dropped")
	src:close()
end)

test("close unbinds at once and pop then says closed; a source collected unbinds too", function()
	local src = assert(ringlb.switch_events(spec()))
	host.fire("CHANNEL_CREATE", { ["Unique-ID"] = "left", variable_user_name = "1006" })
	host.flush()
	src:close() -- frees the event it still held
	eq(0, host.bindings(), "bindings after close")
	local e, err, code = src:pop(0)
	eq(nil, e, "pop after close")
	eq("closed", code, "code")
	if type(err) ~= "string" then
		error("no message with the closed code")
	end
	src:close() -- twice is nothing
	src = assert(ringlb.switch_events(spec()))
	eq(2, host.bindings(), "bound")
	src = nil
	collectgarbage()
	collectgarbage()
	eq(0, host.bindings(), "bindings once collected")
end)

test("bad specs are errors returned, not raised", function()
	local cases = {
		{ spec({ events = { "NO_SUCH_EVENT" } }), "no event" },
		{ spec({ events = { "CHANNEL_CREATE", "channel_create" } }), "twice" },
		{ spec({ any = { "variable_not_copied" } }), "not one of spec.headers" },
		{ spec({ queue = 0 }), "spec.queue" },
		{ spec({ queue = 1.5 }), "spec.queue" },
		{ spec({ headers = {} }), "spec.headers" },
		{ spec({ events = "CHANNEL_CREATE" }), "spec.events" },
		{ spec({ headers = { string.rep("h", 129) } }), "spec.headers" },
		{ spec({ queue = 0 / 0 }), "spec.queue" },
		{ spec({ events = { "ALL" } }), "not one event" },
		{ spec({ events = { "SWITCH_EVENT_CUSTOM" } }), "not one event" },
		{ spec({ events = { "XXXXXXXXXXXXXALL" } }), "not one event" },
	}
	local many = {}
	for i = 1, 33 do
		many[i] = "h" .. i
	end
	cases[#cases + 1] = { spec({ headers = many, any = { "h1" } }), "spec.headers" }
	for i, c in ipairs(cases) do
		local src, err, code = ringlb.switch_events(c[1])
		eq(nil, src, "case " .. i)
		eq("invalid", code, "case " .. i .. " code")
		if not tostring(err):find(c[2], 1, true) then
			error("case " .. i .. ": " .. tostring(err) .. " does not say " .. c[2])
		end
	end
	local src, err, code = ringlb.switch_events()
	eq(nil, src, "no spec")
	eq("invalid", code, "no spec: code")
	-- A method called on something that is not a source.
	local real = assert(ringlb.switch_events(spec()))
	local fake = io.tmpfile()
	for _, call in ipairs({ function() return real.pop() end, function() return real.pop({}) end,
		function() return real.dropped(fake) end }) do
		local v, e, c = call()
		eq(nil, v, "not a source")
		eq("invalid", c, "not a source: code")
		if not tostring(e):find("call it as events:", 1, true) then
			error("not a source: " .. tostring(e))
		end
	end
	fake:close()
	real:close()
	-- mod_lua's hook states have the global event: the hook runs under the
	-- switch's event lock, which binding takes.
	event = io.stdout
	src, err, code = ringlb.switch_events(spec())
	event = nil
	eq(nil, src, "from an event hook")
	eq("invalid", code, "from an event hook: code")
	if not tostring(err):find("not from an event hook", 1, true) then
		error("from an event hook: " .. tostring(err))
	end
	eq(0, host.bindings(), "nothing left bound")
end)

test("at most 8 sources at once; closing one makes room", function()
	local open = {}
	for i = 1, 8 do
		open[i] = assert(ringlb.switch_events(spec()))
	end
	local src, err, code = ringlb.switch_events(spec())
	eq(nil, src, "the ninth")
	eq("invalid", code, "code")
	open[3]:close()
	open[3] = assert(ringlb.switch_events(spec()))
	host.fire("CHANNEL_CREATE", { ["Unique-ID"] = "all", variable_user_name = "1007" })
	host.flush()
	for i = 1, 8 do
		eq("all", open[i]:pop(0)["Unique-ID"], "source " .. i .. " has its copy")
		open[i]:close()
	end
	eq(0, host.bindings(), "bindings")
end)

-- A call as the switch carries it: an inbound leg from a caller who is no
-- user, and the outbound leg to user 1001 it bridges to.
local function direct_call(a, b, user)
	local inbound = { ["Call-Direction"] = "inbound", ["Unique-ID"] = a, variable_domain_name = "example.com" }
	local outbound = { ["Call-Direction"] = "outbound", ["Unique-ID"] = b, variable_dialed_user = user,
		variable_dialed_domain = "example.com", variable_originating_leg_uuid = a }
	return inbound, outbound
end

test("the tracker's consumer counts a user's leg on the switch's events and releases it; other legs count nothing", function()
	host.set_global("ringlb_track", "se-track")
	local b = assert(ringlb.open("se-track"))
	host.start_consumer(LUA_DIR .. "/ringlb_track.lua", "consume")
	eventually(function() return host.logged("counting calls that do not go through ringlb") end, "consuming")
	eq(3, host.bindings(), "three channel events bound")

	local inbound, outbound = direct_call("call-a", "leg-b", "1001")
	host.fire("CHANNEL_CREATE", inbound)
	host.fire("CHANNEL_CREATE", outbound)
	eventually(function() return b:load("user/1001") == 1 end, "user/1001 counted at its leg's CREATE")
	host.fire("CHANNEL_ANSWER", outbound)
	host.fire("CHANNEL_ANSWER", inbound)
	outbound["Hangup-Cause"], inbound["Hangup-Cause"] = "NORMAL_CLEARING", "NORMAL_CLEARING"
	host.fire("CHANNEL_HANGUP_COMPLETE", outbound)
	host.fire("CHANNEL_HANGUP_COMPLETE", inbound)
	eventually(function() return b:load("user/1001") == 0 end, "user/1001 released at its leg's HANGUP_COMPLETE")

	-- A call user 1002 places: its inbound leg carries user_name.
	local placed = { ["Call-Direction"] = "inbound", ["Unique-ID"] = "call-c", variable_user_name = "1002",
		variable_domain_name = "example.com" }
	host.fire("CHANNEL_CREATE", placed)
	eventually(function() return b:load("user/1002") == 1 end, "user/1002 counted as it places a call")
	placed["Hangup-Cause"] = "NORMAL_CLEARING"
	host.fire("CHANNEL_HANGUP_COMPLETE", placed)
	eventually(function() return b:load("user/1002") == 0 end, "user/1002 released")

	-- A FusionPBX ring group's leg: dialed_extension and its presence_id,
	-- no dialed_user; and a second registration of the same user losing the
	-- race to answer, which releases nothing.
	local fpbx = { ["Call-Direction"] = "outbound", ["Unique-ID"] = "leg-p", variable_dialed_extension = "1005",
		variable_domain_name = "example.com", variable_presence_id = "1005@example.com",
		variable_originating_leg_uuid = "call-p" }
	local lost = {}
	for k, v in pairs(fpbx) do
		lost[k] = v
	end
	lost["Unique-ID"] = "leg-q"
	host.fire("CHANNEL_CREATE", fpbx)
	host.fire("CHANNEL_CREATE", lost)
	eventually(function() return b:load("user/1005") == 1 end, "user/1005 counted once for both registrations")
	lost["Hangup-Cause"] = "LOSE_RACE"
	host.fire("CHANNEL_HANGUP_COMPLETE", lost)
	host.fire("CHANNEL_ANSWER", fpbx)
	local _, mark = direct_call("call-n", "leg-n", "1010")
	host.fire("CHANNEL_CREATE", mark)
	eventually(function() return b:load("user/1010") == 1 end, "the leg after the lost race counted")
	eq(1, b:load("user/1005"), "the lost race released nothing")
	fpbx["Hangup-Cause"], mark["Hangup-Cause"] = "NORMAL_CLEARING", "NORMAL_CLEARING"
	host.fire("CHANNEL_HANGUP_COMPLETE", fpbx)
	host.fire("CHANNEL_HANGUP_COMPLETE", mark)
	eventually(function() return b:load("user/1005") == 0 and b:load("user/1010") == 0 end, "released")

	-- ringlb's own legs are the ring helper's.
	local own = { ["Call-Direction"] = "outbound", ["Unique-ID"] = "leg-d", variable_dialed_user = "1003",
		variable_dialed_domain = "example.com", variable_originating_leg_uuid = "call-d",
		variable_ringlb_dest = "user/1003" }
	host.fire("CHANNEL_CREATE", own)
	local _, marker = direct_call("call-m", "leg-m", "1009")
	host.fire("CHANNEL_CREATE", marker) -- taken after own, in order
	eventually(function() return b:load("user/1009") == 1 end, "the leg after ringlb's own counted")
	eq(0, b:load("user/1003"), "ringlb's own leg")
	marker["Hangup-Cause"] = "NORMAL_CLEARING"
	host.fire("CHANNEL_HANGUP_COMPLETE", marker)
	eventually(function() return b:load("user/1009") == 0 end, "released")
	host.set_running(false)
	eq(nil, host.join_consumer(), "the consumer's error")
	eq(0, host.bindings(), "unbound as the switch stops")
	local lines = host.log_lines()
	if lines:find("%[ERR") or lines:find("%[WARNING") then
		error("the consumer logged an error:\n" .. lines)
	end
	host.set_running(true)
end)

test("the consumer stops taking events while ringlb_track is unset, and takes them again once it is set", function()
	host.set_global("ringlb_track", "se-track")
	local b = assert(ringlb.get("se-track"))
	host.start_consumer(LUA_DIR .. "/ringlb_track.lua", "consume")
	eventually(function() return host.bindings() == 3 end, "consuming")
	host.set_global("ringlb_track", nil)
	eventually(function() return host.bindings() == 0 end, "unbound once unset")
	local _, outbound = direct_call("call-e", "leg-f", "1004")
	host.fire("CHANNEL_CREATE", outbound)
	host.flush()
	host.set_global("ringlb_track", "se-track")
	eventually(function() return host.bindings() == 3 end, "bound again once set")
	outbound["Unique-ID"], outbound.variable_originating_leg_uuid = "leg-h", "call-g"
	host.fire("CHANNEL_CREATE", outbound)
	eventually(function() return b:load("user/1004") == 1 end, "counted again")
	outbound["Hangup-Cause"] = "NORMAL_CLEARING"
	host.fire("CHANNEL_HANGUP_COMPLETE", outbound)
	eventually(function() return b:load("user/1004") == 0 end, "released")
	host.set_running(false)
	eq(nil, host.join_consumer(), "the consumer's error")
	eq(0, host.bindings(), "unbound")
end)

-- pairs_text renders an event's { name, value } list as "name=value;...".
local function pairs_text(ev)
	local out = {}
	for _, h in ipairs(ev) do
		out[#out + 1] = h[1] .. "=" .. h[2]
	end
	return table.concat(out, ";")
end

test("fire_event fires a CUSTOM event of the subclass, its headers in order, through the switch's core", function()
	host.custom_events()
	eq(true, ringlb.fire_event("ringlb::info", { "Ringlb-Action", "attempt", "Ringlb-Members", "user/1001,user/1002",
		"Ringlb-Timeout", "20" }), "fired")
	host.flush()
	local evs = host.custom_events()
	eq(1, #evs, "events delivered")
	eq("Event-Name=CUSTOM;Event-Subclass=ringlb::info;Ringlb-Action=attempt;Ringlb-Members=user/1001,user/1002;"
		.. "Ringlb-Timeout=20", pairs_text(evs[1]), "the event")
	eq(true, ringlb.fire_event("ringlb::info", {}), "no header")
	host.flush()
	eq("Event-Name=CUSTOM;Event-Subclass=ringlb::info", pairs_text(host.custom_events()[1]), "the event")
	local long = string.rep("m", 128 * 1024)
	eq(true, ringlb.fire_event("ringlb::info", { "Ringlb-Members", long }), "a value of 128 KB")
	host.flush()
	eq(long, host.custom_events()[1][3][2], "the long value, whole")
end)

test("fire_event: a bad subclass or list is an error returned, and nothing is fired", function()
	local many = {}
	for i = 1, 33 do
		many[#many + 1], many[#many + 2] = "H" .. i, "v"
	end
	local bad = {
		{ "", {} },
		{ string.rep("s", 129), {} },
		{ "a\0b", {} },
		{ 5, {} },
		{ "x::y", { "odd" } },
		{ "x::y", many },
		{ "x::y", { "Name", 5 } },
		{ "x::y", { 5, "value" } },
		{ "x::y", { "", "value" } },
		{ "x::y", { string.rep("n", 129), "value" } },
		{ "x::y", { "Name", "a\0b" } },
		{ "x::y", { "Name", string.rep("v", 128 * 1024 + 1) } },
	}
	host.custom_events()
	for i, c in ipairs(bad) do
		local ok, err, code = ringlb.fire_event(c[1], c[2])
		eq(nil, ok, "case " .. i)
		eq("invalid", code, "case " .. i .. " (" .. tostring(err) .. ")")
		assert(tostring(err):find("^ringlb: fire_event: "), tostring(err))
	end
	host.flush()
	eq(0, #host.custom_events(), "events delivered")
	local ok, _, code = ringlb.fire_event("x::y", "not a table")
	eq(nil, ok, "a list that is not a table")
	eq("invalid", code, "a list that is not a table")
end)

test("fire_event: the switch failing to create, fill or queue an event is an error returned, nothing kept", function()
	host.custom_events()
	for _, call in ipairs({ "create", "add", "fire" }) do
		host.fail_next(call)
		local ok, err, code = ringlb.fire_event("ringlb::info", { "Ringlb-Action", "attempt" })
		eq(nil, ok, call)
		eq("internal", code, call .. " (" .. tostring(err) .. ")")
		host.flush()
		eq(0, host.live_events(), call .. ": events not freed")
	end
	eq(0, #host.custom_events(), "events delivered")
	eq(true, ringlb.fire_event("ringlb::info", { "Ringlb-Action", "attempt" }), "fired once the switch is well")
	host.flush()
	eq(1, #host.custom_events(), "events delivered")
	eq(0, host.live_events(), "events not freed")
end)

test("the ring helper's events go through fire_event where the switch's core is (freeswitch.Event is absent here)", function()
	local ring = require "ringlb.ring"
	eq(nil, freeswitch.Event, "this host's freeswitch.Event")
	host.custom_events()
	eq(true, ring.fire_custom("ringlb::info", { "Ringlb-Action", "ring-start" }), "fire_custom")
	host.flush()
	eq("Event-Name=CUSTOM;Event-Subclass=ringlb::info;Ringlb-Action=ring-start", pairs_text(host.custom_events()[1]),
		"the event")
end)

print(string.format("c switch_events: %d passed, %d failed", passed, failed))
if failed > 0 then
	error(failed .. " failed", 0)
end
