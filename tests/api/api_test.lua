-- api_test.lua SO_DIR: the ringlb module's Lua API, table-driven, run by every
-- supported interpreter against its own build. Each row runs under pcall: a
-- row that raises fails, because the module must never raise.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local T = require "testlib"
local ringlb = T.load_ringlb(arg[1])
local eq, expect_err, name = T.eq, T.expect_err, T.name

local function same_list(want, got)
  eq(#want, #got, "length")
  for i = 1, #want do eq(want[i], got[i], "item " .. i) end
end

local D = { "user/1001", "user/1002", "user/1003" }

local cases = {
  { "module has _NAME and _VERSION", function()
    eq("ringlb", ringlb._NAME)
    assert(type(ringlb._VERSION) == "string" and ringlb._VERSION:match("^%d+%.%d+%.%d+"))
  end },
  { "open returns a balancer", function()
    local b = assert(ringlb.open(name("a")))
    eq(name("a"), b:name())
    assert(tostring(b):find("ringlb.balancer"))
  end },
  { "same name and options share state", function()
    local b1 = assert(ringlb.open(name("share"), { tie = "list", capacity = 3 }))
    local b2 = assert(ringlb.open(name("share"), { tie = "list", capacity = 3 }))
    eq(true, b1:acquire("user/1001", "c1"))
    eq(1, b2:load("user/1001"))
    eq(true, b2:release("user/1001", "c1"))
    eq(0, b1:load("user/1001"))
  end },
  { "switch_events outside a switch: unsupported, nothing raised", function()
    local src, err, code = ringlb.switch_events({ events = { "CHANNEL_CREATE" }, headers = { "Unique-ID" },
      any = { "Unique-ID" } })
    eq(nil, src)
    eq("unsupported", code)
    assert(tostring(err):find("no switch event core", 1, true), tostring(err))
  end },
  { "fire_event outside a switch: unsupported, nothing raised", function()
    local ok, err, code = ringlb.fire_event("ringlb::info", { "Ringlb-Action", "attempt" })
    eq(nil, ok)
    eq("unsupported", code)
    assert(tostring(err):find("no switch event core", 1, true), tostring(err))
  end },
  { "same name, other options: mismatch", function()
    assert(ringlb.open(name("mm"), { tie = "list" }))
    expect_err("mismatch", ringlb.open(name("mm"), { tie = "lru" }))
  end },
  { "a name opened again with the same options is answered without Go, other options still mismatch", function()
    local opts = { tie = "list", capacity = { ["user/1001"] = 2, ["user/1002"] = 1 }, max_hold_age = "600" }
    local b1 = assert(ringlb.open(name("kept"), opts))
    local k0 = ringlb._kept()
    -- the same options built in another order, as every ring builds them anew
    local b2 = assert(ringlb.open(name("kept"), { max_hold_age = "600",
      capacity = { ["user/1002"] = 1, ["user/1001"] = 2 }, tie = "list" }))
    eq(k0.opens + 1, ringlb._kept().opens, "kept")
    eq(true, b1:acquire("user/1001", "c1"))
    eq(1, b2:load("user/1001"), "one balancer")
    eq(true, b2:release("user/1001", "c1"))
    expect_err("mismatch", ringlb.open(name("kept"), { tie = "list", capacity = { ["user/1001"] = 3, ["user/1002"] = 1 },
      max_hold_age = "600" }))
    expect_err("mismatch", ringlb.open(name("kept"), { tie = "list" }))
    expect_err("mismatch", ringlb.open(name("kept")))
    eq(k0.opens + 1, ringlb._kept().opens, "what differs reaches Go")
    -- an open that failed is never kept
    expect_err("invalid", ringlb.open(name("kept-bad"), { tie = "nonesuch" }))
    expect_err("invalid", ringlb.open(name("kept-bad"), { tie = "nonesuch" }))
    eq(k0.opens + 1, ringlb._kept().opens, "errors are not kept")
  end },
  { "get finds an open balancer by name, whatever its options", function()
    local b1 = assert(ringlb.open(name("get"), { capacity = 2 }))
    assert(b1:acquire("x", "c"))
    local b2 = assert(ringlb.get(name("get")))
    eq(1, b2:load("x"))
    expect_err("unknown", ringlb.get(name("never-opened")))
    expect_err("invalid", ringlb.get(nil))
  end },
  { "list names the open balancers", function()
    assert(ringlb.open(name("listed")))
    local found = false
    for _, n in ipairs(assert(ringlb.list())) do found = found or n == name("listed") end
    assert(found, "opened balancer not listed")
  end },
  { "dialstring variables come out sorted by name", function()
    local s = assert(ringlb.dialstring({ "user/1" }, ",", { b = "2", a = "1", c = "3" }))
    eq("{a=1,b=2,c=3}user/1", s)
  end },
  { "order: least loaded first", function()
    local b = assert(ringlb.open(name("order"), { tie = "list" }))
    assert(b:acquire("user/1001", "c1"))
    assert(b:acquire("user/1001", "c2"))
    assert(b:acquire("user/1002", "c3"))
    same_list({ "user/1003", "user/1002", "user/1001" }, b:order(D))
  end },
  { "order: duplicates keep their first position", function()
    local b = assert(ringlb.open(name("dups"), { tie = "list" }))
    same_list({ "b", "a" }, b:order({ "b", "a", "b", "a" }))
  end },
  { "order: empty list is empty", function()
    local b = assert(ringlb.open(name("empty")))
    same_list({}, b:order({}))
  end },
  { "order leaves out drained and full", function()
    local b = assert(ringlb.open(name("filter"), { tie = "list", capacity = { ["user/1002"] = 1 } }))
    assert(b:acquire("user/1002", "c1"))
    assert(b:drain("user/1003"))
    same_list({ "user/1001" }, b:order(D))
    assert(b:undrain("user/1003"))
    same_list({ "user/1001", "user/1003" }, b:order(D))
  end },
  { "next holds the least loaded; lru takes turns", function()
    local b = assert(ringlb.open(name("lru")))
    local got = {}
    for i = 1, 6 do
      local d = assert(b:next(D, "call" .. i))
      got[#got + 1] = d
      assert(b:release(d, "call" .. i)) -- non-overlapping calls
    end
    same_list({ "user/1001", "user/1002", "user/1003", "user/1001", "user/1002", "user/1003" }, got)
  end },
  { "list ties always give the first (genesis behaviour)", function()
    local b = assert(ringlb.open(name("list"), { tie = "list" }))
    for i = 1, 3 do
      local d = assert(b:next(D, "call" .. i))
      eq("user/1001", d)
      assert(b:release(d, "call" .. i))
    end
  end },
  { "random ties pick among equals", function()
    local b = assert(ringlb.open(name("random"), { tie = "random" }))
    local seen = {}
    for i = 1, 60 do
      local d = assert(b:next(D, "c" .. i))
      seen[d] = true
      assert(b:release(d, "c" .. i))
    end
    assert(seen["user/1001"] and seen["user/1002"] and seen["user/1003"], "60 draws never hit all three")
  end },
  { "next is idempotent per call id", function()
    local b = assert(ringlb.open(name("idem")))
    local d1 = assert(b:next(D, "same"))
    local d2 = assert(b:next(D, "same"))
    eq(d1, d2)
    eq(1, b:load(d1))
  end },
  { "capacity: next fails with at_capacity when all are full", function()
    local b = assert(ringlb.open(name("cap"), { capacity = 1 }))
    assert(b:next({ "a", "b" }, "c1"))
    assert(b:next({ "a", "b" }, "c2"))
    expect_err("at_capacity", b:next({ "a", "b" }, "c3"))
    expect_err("at_capacity", b:acquire("a", "c4"))
  end },
  { "next on empty list: no_destinations", function()
    local b = assert(ringlb.open(name("nodest")))
    expect_err("no_destinations", b:next({}, "c"))
  end },
  { "drained: next skips it, acquire refuses it, its calls keep counting", function()
    local b = assert(ringlb.open(name("drain")))
    assert(b:acquire("user/1001", "c1"))
    assert(b:drain("user/1001"))
    eq(1, b:load("user/1001"))
    expect_err("drained", b:acquire("user/1001", "c2"))
    eq("user/1002", b:next({ "user/1001", "user/1002" }, "c3"))
    expect_err("at_capacity", b:next({ "user/1001" }, "c4"))
  end },
  { "acquire and release are idempotent; counts never below zero", function()
    local b = assert(ringlb.open(name("hold")))
    eq(true, b:acquire("x", "c"))
    eq(false, b:acquire("x", "c"))
    eq(1, b:load("x"))
    eq(true, b:release("x", "c"))
    eq(false, b:release("x", "c"))
    eq(false, b:release("never", "held"))
    eq(0, b:load("x"))
    eq(0, b:load("never"))
  end },
  { "loads gives a table by destination", function()
    local b = assert(ringlb.open(name("loads")))
    assert(b:acquire("user/1002", "c"))
    local t = assert(b:loads(D))
    eq(0, t["user/1001"]); eq(1, t["user/1002"]); eq(0, t["user/1003"])
  end },
  { "reset drops every hold of one destination", function()
    local b = assert(ringlb.open(name("reset")))
    assert(b:acquire("x", "c1")); assert(b:acquire("x", "c2"))
    eq(2, b:reset("x"))
    eq(0, b:load("x"))
    eq(0, b:reset("x"))
  end },
  { "snapshot shows destinations and holds", function()
    local b = assert(ringlb.open(name("snap"), { capacity = { x = 2 } }))
    assert(b:acquire("x", "c1"))
    local s = assert(b:snapshot())
    eq(name("snap"), s.name); eq("memory", s.backend)
    eq(1, #s.destinations); eq("x", s.destinations[1].dest)
    eq(1, s.destinations[1].active); eq(2, s.destinations[1].capacity)
    eq(false, s.destinations[1].drained); eq(1, s.destinations[1].started)
    assert(s.destinations[1].last_hold > 0)
    eq(1, #s.holds); eq("c1", s.holds[1].call_id); eq("x", s.holds[1].dest)
  end },
  { "answered turns a hold from ringing to talking; count ignores drain and capacity", function()
    local b = assert(ringlb.open(name("states"), { capacity = 1 }))
    assert(b:acquire("user/1001", "c1"))
    eq(true, b:answered("user/1001", "c1"))
    eq(false, b:answered("user/1001", "c1"))
    eq(false, b:answered("user/1001", "nope"))
    assert(b:drain("user/1001"))
    eq(true, b:count("user/1001@example.com", "direct")) -- same member, drained and full
    eq(false, b:count("user/1001", "direct"))
    eq(2, b:load("user/1001"))
    local s = assert(b:snapshot())
    eq(1, s.destinations[1].ringing); eq(1, s.destinations[1].talking); eq(1, s.destinations[1].answered)
    local states = {}
    for _, h in ipairs(s.holds) do states[h.call_id] = h.state end
    eq("talking", states.c1); eq("ringing", states.direct)
    local _, err, code = b:answered("", "c1")
    eq("invalid", code, err)
  end },
  { "wrapup: a table per destination, an answered call's member rests", function()
    local b = assert(ringlb.open(name("wrapup"), { tie = "list", wrapup = { ["user/1"] = 60 } }))
    assert(b:acquire("user/1", "c")); assert(b:answered("user/1", "c")); assert(b:release("user/1", "c"))
    assert(b:acquire("user/2", "c")); assert(b:answered("user/2", "c")); assert(b:release("user/2", "c"))
    local o = assert(b:order({ "user/1", "user/2" }))
    eq(1, #o); eq("user/2", o[1])
    assert(b:snapshot().destinations[1].wrapup_until > os.time() + 50)
    local _, err, code = ringlb.open(name("wrapbad"), { wrapup = { [1] = 5 } })
    eq("invalid", code, err)
  end },
  { "report renders the status and holds tables", function()
    local b = assert(ringlb.open(name("report"), { capacity = { x = 2 } }))
    assert(b:acquire("x", "c1")); assert(b:acquire("y", "c2"))
    local st = assert(b:report("status"))
    assert(st:find("^balancer " .. name("report"):gsub("%-", "%%-") .. " %(memory%) at "), st)
    assert(st:find("DEST%s+ACTIVE%s+RINGING%s+TALKING%s+CAPACITY%s+DRAINED%s+STARTED%s+ANSWERED%s+SCORE%s+WRAP%-UP%s+LAST CALL"), st)
    assert(st:find("\nx%s+1%s+1%s+0%s+2%s+no%s+1%s+0%s+0%.0%s+%-%s+%d+s ago"), st)
    assert(st:find("2 destinations, 0 drained, 2 active calls (2 ringing, 0 talking)", 1, true), st)
    local h = assert(b:report("holds", { "y" }))
    assert(h:find("\ny%s+c2%s+ringing%s+local%s+%d+s%s+"), h)
    assert(not h:find("\nx%s"), h)
    assert(h:find("1 hold\n$"), h)
    expect_err("invalid", b:report("nonsense"))
    expect_err("invalid", b:report("holds", "y"))
  end },
  { "ring rules: check, pick, hold_all, reason", function()
    local m, t = assert(ringlb.ring_check("sequential", { "user/1", "user/2", "user/1" }, 12.7))
    eq(2, #m); eq("user/1", m[1]); eq("user/2", m[2]); eq(12, t)
    local _, t2 = assert(ringlb.ring_check("parallel", { "user/1" }))
    eq(30, t2)
    expect_err("invalid", ringlb.ring_check("balancing", { "user/1" }))          -- needs a balancer
    expect_err("invalid", ringlb.ring_check("ringall", { "user/1" }))
    expect_err("invalid", ringlb.ring_check("parallel", { "user/1 x" }))
    expect_err("invalid", ringlb.ring_check("parallel", { "user/1" }, 0.5))
    expect_err("invalid", ringlb.ring_check("parallel", { "user/1" }, 30, "ignore"))
    expect_err("invalid", ringlb.ring_check("balancing", { "user/1" }, 30, nil, "my group"))
    local b = assert(ringlb.open(name("rules"), { capacity = 1, tie = "list" }))
    assert(b:acquire("a", "other")); assert(b:drain("b"))
    local d, skipped = b:pick("sequential", { "a", "b", "c" }, "call1")
    eq("c", d); eq(2, #skipped); eq("a", skipped[1]); eq("b", skipped[2])
    d, skipped = b:pick("balancing", { "a", "b" }, "call2")
    eq(false, d); eq(2, #skipped)
    expect_err("invalid", b:pick("parallel", { "a" }, "call3"))
    local states = assert(b:hold_all({ "a", "d", "e" }, "call4"))
    eq("skipped", states[1]); eq("held", states[2]); eq("held", states[3])
    eq(1, b:load("d"))
    local r, last = ringlb.ring_reason({ "USER_BUSY", "NO_ANSWER" })
    eq("no_answer", r); eq("NO_ANSWER", last)
    r, last = ringlb.ring_reason({})
    eq("failed", r); eq("NONE", last)
    eq("all_busy", (ringlb.ring_reason({ "AT_CAPACITY" })))
    local ds = assert(ringlb.dialstring({ "user/1", "user/2" }, ",", nil, 20, "ringlb_dest"))
    eq("[leg_timeout=20,ringlb_dest=user/1]user/1,[leg_timeout=20,ringlb_dest=user/2]user/2", ds)
  end },
  { "ring_plan: the canonical plan of a ring, built as a table", function()
    local p = assert(ringlb.ring_plan({ mode = " Balancing ", balancer = "sales", timeout = 20.5, deadline = 60,
      vars = { hold = 1, zz = "z" }, members = { "user/1001", { key = "user/1002@a.example", timeout = 10, legs = {
        "user/1002@a.example", { endpoint = "loopback/0612", vars = { leg_delay_start = 5, caller = "Doe, John" } } } },
        "user/1001", { key = "user/1003", dnd = true } } }))
    eq("balancing", p.mode); eq("fallback", p.on_backend_error); eq("sales", p.balancer)
    eq(20, p.timeout); eq(60, p.deadline)
    eq("1", p.vars.hold); eq("true", p.vars.ignore_early_media)
    eq(2, #p.members)
    eq("user/1001", p.members[1].key); eq(20, p.members[1].timeout); eq(1, p.members[1].index)
    eq("user/1001", p.members[1].legs[1].endpoint); eq("user/1001", p.members[1].legs[1].vars.ringlb_dest)
    local m = p.members[2]
    eq("user/1002@a.example", m.key); eq(10, m.timeout); eq(2, m.index); eq(2, #m.legs)
    eq("loopback/0612", m.legs[2].endpoint); eq("5", m.legs[2].vars.leg_delay_start)
    eq("Doe, John", m.legs[2].vars.caller); eq("user/1002@a.example", m.legs[2].vars.ringlb_dest)
    eq(1, #p.dnd); eq("user/1003", p.dnd[1])
    -- each member's dial string for its whole turn, as the ring's variables and its timeout make it
    for _, pm in ipairs(p.members) do
      eq(assert(ringlb.dialstring(pm.legs, ",", { hold = 1, zz = "z", ignore_early_media = "true",
        originate_timeout = pm.timeout })),
        pm.dial, "the dial string of " .. pm.key)
    end
    local q = assert(ringlb.ring_plan({ mode = "parallel", members = { "user/1" } }))
    eq(nil, q.balancer); eq(0, q.deadline); eq(30, q.timeout)
    eq(nil, q.members[1].dial, "a parallel ring rings its members together: none of their own")
    local ds = assert(ringlb.dialstring(m.legs, ",", { originate_timeout = 10 }))
    eq("{originate_timeout=10}[ringlb_dest=user/1002@a.example]user/1002@a.example,"
      .. "[caller=Doe\\\\, John,leg_delay_start=5,ringlb_dest=user/1002@a.example]loopback/0612", ds)
  end },
  { "ring_plan: a spec asked again is answered from the plan kept, any other goes to Go", function()
    local function spec(var)
      return { mode = "balancing", balancer = name("kept-plan"), timeout = 15, vars = { a = var },
        members = { "user/1", { key = "user/2", timeout = 5, legs = { "user/2", { endpoint = "loopback/2",
          vars = { b = var } } } } } }
    end
    local k0 = ringlb._kept()
    local p1 = assert(ringlb.ring_plan(spec("x")))
    local p2 = assert(ringlb.ring_plan(spec("x")))
    eq(k0.plans + 1, ringlb._kept().plans, "the second from the plan kept")
    eq(p1.members[2].dial, p2.members[2].dial); eq(p1.members[2].legs[2].vars.b, p2.members[2].legs[2].vars.b)
    eq(p1.timeout, p2.timeout); eq(p1.balancer, p2.balancer); eq(#p1.members, #p2.members)
    assert(p1.members[2].legs[2].vars ~= p2.members[2].legs[2].vars, "each its own tables")
    -- a leg's variable differs: another plan, from Go
    local p3 = assert(ringlb.ring_plan(spec("y")))
    eq("y", p3.members[2].legs[2].vars.b)
    eq(k0.plans + 1, ringlb._kept().plans, "another spec is not answered from the kept one")
    -- a spec that fails is never kept
    local bad = spec("x"); bad.mode = "nonesuch"
    expect_err("invalid", ringlb.ring_plan(bad))
    expect_err("invalid", ringlb.ring_plan(bad))
    eq(k0.plans + 1, ringlb._kept().plans, "errors are not kept")
  end },
  { "ring_turn and ring_result: the turns of a ring and how it ended, named by ringlb", function()
    local b = assert(ringlb.open(name("turns"), { capacity = 1, tie = "list" }))
    local p = assert(ringlb.ring_plan({ mode = "sequential", balancer = name("turns"),
      members = { { key = "a/1", timeout = 20 }, { key = "b/1", timeout = 10 } } }))
    assert(b:acquire("a/1", "other"))
    local m, secs, skipped, full = ringlb.ring_turn(p.mode, p.members, "call1", 7.5, b)
    eq(p.members[2], m); eq(7, secs); eq(1, #skipped); eq(p.members[1], skipped[1])
    eq(false, full) -- cut short by the deadline: no ring-out if unanswered
    eq(1, b:load("b/1"))
    local stop
    m, stop, skipped = ringlb.ring_turn(p.mode, { p.members[1] }, "call2", nil, b)
    eq(false, m); eq("at_capacity", stop); eq(1, #skipped)
    m, stop = ringlb.ring_turn(p.mode, p.members, "call3", 0.5)
    eq(false, m); eq("call_timeout", stop)
    m, secs, skipped, full = ringlb.ring_turn(p.mode, p.members, "call4")
    eq(p.members[1], m); eq(20, secs); eq(0, #skipped); eq(true, full)
    expect_err("invalid", ringlb.ring_turn("parallel", p.members, "call5"))
    local r, d, sum = ringlb.ring_result({ causes = { "NO_ANSWER" }, full = 1, dnd = 0, stop = "at_capacity" })
    eq("no_answer", r); eq("at_capacity", d)
    eq("rang 1 member (NO_ANSWER); 1 member at capacity, drained or in wrap-up; then none left with room", sum)
    expect_err("invalid", ringlb.ring_result({ causes = {}, stop = "bogus" }))
  end },
  { "act: drain, undrain and reset say what they did, as ringlbctl", function()
    local n = name("act")
    local b = assert(ringlb.open(n))
    assert(b:acquire("user/1", "c1"))
    local lines = assert(b:act("drain", { "user/1", "user/9" }))
    eq(n .. ": drained user/1 (1 active call keeps counting until it ends)", lines[1])
    eq(n .. ": drained user/9 (new to this balancer: check the spelling)", lines[2])
    eq(n .. ": reset user/1, dropped 1 hold", assert(b:act("reset", { "user/1" }))[1])
    local _, err, code, done = b:act("frob", { "user/1" })
    eq("invalid", code); assert(err:find("frob", 1, true), err); eq(0, #done)
  end },
  { "unanswered backs a member off; away and rejoin lift it back to its group's mean", function()
    local b = assert(ringlb.open(name("backoff"), { tie = "list", no_answer_backoff = 3600 }))
    eq("a", b:next({ "a", "b" }, "c1"))
    eq(true, b:unanswered("a", "c1"))
    eq(false, b:unanswered("a", "c1"))
    local o = assert(b:order({ "a", "b" }))
    eq("b", o[1]); eq("a", o[2])
    local _, err, code = b:unanswered("a", "")
    eq("invalid", code, err)
    local f = assert(ringlb.open(name("lift"), { fewest_half_life = "never", start_window = "never" }))
    eq("c", assert(f:order({ "c" }))[1]) -- scored at 0
    for i = 1, 4 do
      assert(f:acquire("a", "a" .. i)); assert(f:answered("a", "a" .. i)); assert(f:release("a", "a" .. i))
    end
    for i = 1, 2 do
      assert(f:acquire("b", "b" .. i)); assert(f:answered("b", "b" .. i)); assert(f:release("b", "b" .. i))
    end
    eq(true, f:away("c"))
    eq("c", assert(f:order({ "a", "b", "c" }))[1]) -- away: nothing yet
    eq(true, f:rejoin("c"))
    o = assert(f:order({ "a", "b", "c" }))
    eq("b", o[1]); eq("c", o[2]); eq("a", o[3]) -- c at 3, the mean of 4 and 2
    local lines = assert(f:act("rejoin", { "c" }))
    assert(lines[1]:find("c rejoins", 1, true), lines[1])
    _, err, code = f:away("")
    eq("invalid", code, err)
  end },
  { "max_no_answer leaves out a member that keeps missing until rejoin", function()
    local b = assert(ringlb.open(name("maxmiss"), { tie = "list", no_answer_backoff = 3600, max_no_answer = 2,
      capacity = 1 }))
    for i = 1, 2 do
      assert(b:acquire("a", "m" .. i)); eq(true, b:unanswered("a", "m" .. i))
    end
    local o = assert(b:order({ "a", "b" }))
    eq(1, #o); eq("b", o[1])
    assert(b:acquire("b", "busy"))
    local d, err0, code0 = b:next({ "a", "b" }, "new") -- a out, b full: nobody
    eq(nil, d); eq("at_capacity", code0, err0)
    local st = assert(b:report("status"))
    assert(st:find(" out [12]h", 1) and st:find("1 out for no answer", 1, true), st)
    eq(true, b:rejoin("a"))
    eq("a", assert(b:order({ "a", "b" }))[1])
    eq("a", b:next({ "a", "b" }, "new"))
    local never = assert(ringlb.open(name("maxmiss_never"), { tie = "list", max_no_answer = "never" }))
    for i = 1, 4 do
      assert(never:acquire("a", "n" .. i)); eq(true, never:unanswered("a", "n" .. i))
    end
    eq(2, #assert(never:order({ "a", "b" })))
    local _, err, code = ringlb.open(name("maxmiss_bad"), { max_no_answer = -1 })
    eq("invalid", code, err)
    assert(err:find("max_no_answer", 1, true), err)
  end },
  { "dialstring builds an escaped FreeSWITCH dial string", function()
    local s = assert(ringlb.dialstring({ "user/1001", "user/1002" }, "|", { ignore_early_media = "true" }, 20))
    assert(s:find("^{ignore_early_media=true}"), s)
    assert(s:find("user/1001") and s:find("|", 1, true), s)
    expect_err("invalid", ringlb.dialstring({ "a" }, ";"))
    expect_err("invalid", ringlb.dialstring({ "a" }, ",", { x = "a\nb" }))
  end },
  { "a url's password never shows in an error", function()
    for i, url in ipairs({
      "redis:/:hunter2pw@127.0.0.1:6379/0",
      "redis::hunter2pw@127.0.0.1",
      "redis://:hunter2pw/x@127.0.0.1:6379/0",
      "redis://:hunter2pw?x@127.0.0.1:6379/0",
      "redis+cluster://:hunter2pw/x@h1,h2",
      "redis+sentinel://h:1/0?master_name=m&sentinel_password=hunter2pw&bogus=1",
      "redis://h:1/0?password=hunter2pw&bogus=1",
    }) do
      local ok, msg, code = ringlb.open(name("secret" .. i), { url = url })
      eq(nil, ok); eq("invalid", code)
      assert(not msg:find("hunter2", 1, true), msg)
    end
  end },
  -- Regression: option values and dial-string variable values were cut at
  -- a NUL byte (lua_tostring), so "lru\0x" opened an lru balancer and a url
  -- was read up to the NUL. They are refused, the option named, the value
  -- never shown.
  { "a NUL byte in an option or variable value is refused, the value not shown", function()
    local values = {
      tie = "lru\0Sec9Pw", user_domains = "keep\0Sec9Pw", node = "fs1\0Sec9Pw",
      key_prefix = "p:\0Sec9Pw", url = "redis://:Zq7\0Sec9Pw@127.0.0.1:6379/0",
    }
    for opt, v in pairs(values) do
      local opts = { url = "redis://127.0.0.1:1/0" }
      opts[opt] = v
      local ok, msg, code = ringlb.open(name("nul-" .. opt), opts)
      eq(nil, ok, opt); eq("invalid", code, opt)
      assert(msg:find("option " .. opt .. " has a NUL byte", 1, true), msg)
      assert(not msg:find("Sec9", 1, true) and not msg:find("Zq7", 1, true), msg)
    end
    local ok, msg, code = ringlb.dialstring({ "user/1" }, ",", { origination_caller_id_name = "Ann\0Sec9Pw" })
    eq(nil, ok); eq("invalid", code)
    assert(msg:find("variable origination_caller_id_name has a NUL byte", 1, true), msg)
    assert(not msg:find("Sec9", 1, true), msg)
  end },
  { "names that are not valid UTF-8 are refused wherever they enter", function()
    local b = assert(ringlb.open(name("utf8")))
    expect_err("invalid", ringlb.open("sales\255"))
    expect_err("invalid", b:acquire("user/10\255", "c1"))
    expect_err("invalid", b:acquire("user/1001", "c\195"))
    expect_err("invalid", b:next({ "user/1001", "user/\255" }, "c1"))
    expect_err("invalid", b:count("user/\255", "c1"))
    expect_err("invalid", ringlb.open(name("utf8cap"), { capacity = { ["user/\255"] = 2 } }))
    expect_err("invalid", ringlb.open(name("utf8node"), { url = "redis://127.0.0.1:1/0", node = "fs\255" }))
    expect_err("invalid", ringlb.ring_check("parallel", { "user/\255" }))
    eq(0, b:load("user/1001"))
    -- Valid UTF-8 is welcome.
    assert(b:acquire("user/j\195\188rgen", "c1"))
    eq(true, b:release("user/j\195\188rgen", "c1"))
  end },
  { "a \"::\" that would cut the hangup hook is refused", function()
    expect_err("invalid", ringlb.open(name("sales::eu")))
    expect_err("invalid", ringlb.ring_check("parallel", { "sofia/gateway/gw::1" }))
    expect_err("invalid", ringlb.ring_check("parallel", { "user/1" }, nil, nil, "a::b"))
    local members = assert(ringlb.ring_check("parallel", { "sofia/internal/sip:1000@2001:db8::1" }))
    eq("sofia/internal/sip:1000@2001:db8::1", members[1])
  end },
  { "1024 destinations are fine", function()
    local b = assert(ringlb.open(name("big")))
    local many = {}
    for i = 1, 1024 do many[i] = "user/" .. i end
    eq(1024, #assert(b:order(many)))
    eq("user/1", assert(b:next(many, "c")))
  end },
}

-- Bad input: every row must give nil, message, "invalid" (or its code).
local b = assert(ringlb.open(name("bad")))
local ten_thousand = {}
for i = 1, 10000 do ten_thousand[i] = "user/" .. i end
local bad = {
  { "open without a name", function() return ringlb.open() end },
  { "open with a number name", function() return ringlb.open(42) end },
  { "open with an empty name", function() return ringlb.open("") end },
  { "open with options not a table", function() return ringlb.open("x", "tie=lru") end },
  { "open with an unknown option", function() return ringlb.open(name("u"), { colour = "red" }) end },
  { "open with a bad tie", function() return ringlb.open(name("t"), { tie = "first" }) end },
  { "open with a negative capacity", function() return ringlb.open(name("n"), { capacity = -1 }) end },
  { "open with a fractional capacity", function() return ringlb.open(name("f"), { capacity = 1.5 }) end },
  { "open with a capacity table of strings", function() return ringlb.open(name("s"), { capacity = { a = "two" } }) end },
  { "open with a nested table option", function() return ringlb.open(name("nt"), { tie = { "lru" } }) end },
  { "open with a numeric option key", function() return ringlb.open(name("k"), { 1, 2 }) end },
  { "open with a bad url scheme", function() return ringlb.open(name("url"), { url = "http://x" }) end },
  { "open with a malformed url", function() return ringlb.open(name("url2"), { url = "redis://%zz" }) end },
  { "order(nil)", function() return b:order(nil) end },
  { "order(number)", function() return b:order(42) end },
  { "order with a number item", function() return b:order({ "a", 1001 }) end },
  { "order with a nested table item", function() return b:order({ "a", { "b" } }) end },
  { "order with an empty string", function() return b:order({ "a", "" }) end },
  { "order with a NUL byte", function() return b:order({ "a\0b" }) end },
  { "order with a newline", function() return b:order({ "a\nb" }) end },
  { "order with 10,000 destinations", function() return b:order(ten_thousand) end },
  { "next with 10,000 destinations", function() return b:next(ten_thousand, "c") end },
  { "next without a call id", function() return b:next({ "a" }) end },
  { "next with an empty call id", function() return b:next({ "a" }, "") end },
  { "next with a numeric call id", function() return b:next({ "a" }, 7) end },
  { "acquire(nil, id)", function() return b:acquire(nil, "c") end },
  { "acquire with an empty destination", function() return b:acquire("", "c") end },
  { "acquire with a huge destination", function() return b:acquire(string.rep("x", 600), "c") end },
  { "release without a call id", function() return b:release("a") end },
  { "load(nil)", function() return b:load(nil) end },
  { "loads({ {} })", function() return b:loads({ {} }) end },
  { "drain(1)", function() return b:drain(1) end },
  { "reset()", function() return b:reset() end },
  { "away()", function() return b:away() end },
  { "rejoin({})", function() return b:rejoin({}) end },
  { "unanswered without a call id", function() return b:unanswered("a") end },
  { "method called with a dot", function() return b.order({ "a" }) end },
  { "method on a foreign table", function() return b.next({}, { "a" }, "c") end },
  -- Regression: a userdata given the balancer metatable through the debug
  -- library was accepted and read past its end.
  { "method on a small userdata with the balancer metatable", function()
    local u = io.tmpfile()
    debug.setmetatable(u, debug.getmetatable(b))
    return u:next({ "a" }, "c") -- u leaks its FILE: it has no __gc any more
  end },
  { "dialstring with no legs table", function() return ringlb.dialstring(nil, ",") end },
  { "dialstring with a bad leg_timeout", function() return ringlb.dialstring({ "a" }, ",", nil, "x") end },
  { "dialstring with a numeric tag", function() return ringlb.dialstring({ "a" }, ",", nil, nil, 7) end },
  { "ring_check without a mode", function() return ringlb.ring_check(nil, { "a" }) end },
  { "ring_check with a string timeout", function() return ringlb.ring_check("parallel", { "a" }, "30") end },
  { "ring_check with no members", function() return ringlb.ring_check("parallel", {}) end },
  { "ring_reason(nil)", function() return ringlb.ring_reason(nil) end },
  { "pick without a call id", function() return b:pick("sequential", { "a" }) end },
  { "hold_all with a number member", function() return b:hold_all({ 1 }, "c") end },
  { "ring_plan(nil)", function() return ringlb.ring_plan(nil) end },
  { "ring_plan with a numeric mode", function() return ringlb.ring_plan({ mode = 1, members = { "user/1" } }) end },
  { "ring_plan with a NUL in a key", function() return ringlb.ring_plan({ mode = "parallel", members = { "user/\0" } }) end },
  { "ring_plan with a table of legs that is not one", function()
    return ringlb.ring_plan({ mode = "parallel", members = { { key = "k/1", legs = "user/1" } } }) end },
  { "ring_plan with a leg of no endpoint", function()
    return ringlb.ring_plan({ mode = "parallel", members = { { key = "k/1", legs = { {} } } } }) end },
  { "ring_plan with a leg variable holding a quote", function()
    return ringlb.ring_plan({ mode = "parallel", members = { { key = "k/1", legs = { { endpoint = "user/1", vars = { x = "it's" } } } } } }) end },
  { "ring_plan with 129 members", function()
    local ms = {}
    for i = 1, 129 do ms[i] = "user/" .. i end
    return ringlb.ring_plan({ mode = "sequential", members = ms }) end },
  { "ring_plan with 10,000 members", function() return ringlb.ring_plan({ mode = "sequential", members = ten_thousand }) end },
  { "ring_plan with a timeout of 0", function() return ringlb.ring_plan({ mode = "parallel", timeout = 0, members = { "user/1" } }) end },
  { "ring_plan with a string timeout", function() return ringlb.ring_plan({ mode = "parallel", timeout = "30", members = { "user/1" } }) end },
  { "ring_turn with members that are strings", function() return ringlb.ring_turn("sequential", { "user/1" }, "c") end },
  { "ring_turn with a foreign balancer", function() return ringlb.ring_turn("sequential", {}, "c", nil, {}) end },
  { "ring_result without a stop", function() return ringlb.ring_result({ causes = {} }) end },
  { "act without dests", function() return b:act("drain") end },
}
for _, row in ipairs(bad) do
  cases[#cases + 1] = { "bad input: " .. row[1], function()
    expect_err("invalid", row[2]())
  end }
end

cases[#cases + 1] = { "bad input left nothing behind", function()
  local t = assert(b:loads({ "a", "b", "user/1" }))
  eq(0, t.a); eq(0, t.b); eq(0, t["user/1"])
end }

-- ringlb's own Lua modules are compiled once per process (cgo/luamod_chunks.c):
-- a fresh require of a "ringlb.*" module loads the kept bytecode while its
-- file is unchanged, compiles an edited file anew, raises as require does on
-- a broken one, and leaves other modules to Lua's searchers.
cases[#cases + 1] = { "ringlb.* modules: compiled once, edits seen, errors as require's", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir .. "/ringlb") ~= false)
  local file = dir .. "/ringlb/cachetest.lua"
  local function write(text)
    local f = assert(io.open(file, "w"))
    f:write(text)
    f:close()
  end
  local saved = package.path
  package.path = dir .. "/?.lua;" .. saved
  local ok, err = pcall(function()
    local function fresh()
      package.loaded["ringlb.cachetest"] = nil
      return require "ringlb.cachetest"
    end
    write("local name, path = ...\nreturn { v = 1, name = name, path = path }\n")
    local s0 = ringlb._chunks()
    local m = fresh()
    eq(1, m.v, "first require")
    eq("ringlb.cachetest", m.name, "the chunk gets the module name")
    if _VERSION ~= "Lua 5.1" then eq(file, m.path, "and its file (5.2+)") end
    eq(1, fresh().v, "second require")
    local s1 = ringlb._chunks()
    eq(s0.misses + 1, s1.misses, "compiled once")
    eq(s0.hits + 1, s1.hits, "then loaded from the cache")
    write("return { v = 22 }\n") -- another size: edited
    eq(22, fresh().v, "the edited file is compiled anew")
    write("return { v = = 3 }\n")
    local rok, rerr = pcall(fresh)
    assert(not rok and tostring(rerr):find("error loading module 'ringlb.cachetest'", 1, true), tostring(rerr))
    write("error('boom from the module')\n")
    rok, rerr = pcall(fresh)
    assert(not rok and tostring(rerr):find("cachetest.lua:1: boom from the module", 1, true), tostring(rerr))
    eq(22, (function() write("return { v = 22 }\n"); return fresh().v end)(), "fixed again")
    -- a module whose name is not ringlb's is not kept
    write("return { v = 5 }\n")
    os.rename(file, dir .. "/other.lua")
    local s2 = ringlb._chunks()
    package.loaded.other = nil
    eq(5, require("other").v, "other modules load as before")
    local s3 = ringlb._chunks()
    eq(s2.misses + s2.hits, s3.misses + s3.hits, "and never reach the cache")
  end)
  package.path = saved
  package.loaded["ringlb.cachetest"], package.loaded.other = nil, nil
  os.execute("rm -rf " .. dir)
  assert(ok, err)
end }

T.run((jit and jit.version or _VERSION) .. " api", cases)
