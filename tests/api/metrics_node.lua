-- metrics_node.lua SO_DIR serve|second|all [ADDR]: one switch process of
-- the metrics test (run.sh).
--   serve: opens a balancer, takes holds, checks that every interface is
--          refused unless asked for, starts the endpoint on a free
--          loopback port, prints "bound <addr>", and stays up 30 s.
--   second: asks for the endpoint on ADDR, which another process holds,
--          and prints what it got.
--   all: starts the endpoint on every interface as asked for ("*:0"),
--        prints "bound <addr>", and stays up 30 s.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../?.lua;" .. package.path
local T = require "testlib"
local ringlb = T.load_ringlb(arg[1])
local mode = arg[2]
if mode == "serve" then
  local b = assert(ringlb.open("metrics-sales", { capacity = { ["user/1001"] = 2 } }))
  assert(b:acquire("user/1001", "call-a"))
  assert(b:acquire("user/1001", "call-b"))
  assert(b:next({ "user/1001", "user/1002" }, "call-c"))
  local addr = assert(ringlb.metrics("127.0.0.1:0"))
  local k0 = ringlb._kept()
  T.eq(addr, assert(ringlb.metrics("127.0.0.1:0")), "same address again")
  T.eq(k0.metrics + 1, ringlb._kept().metrics, "answered without Go within a second")
  T.expect_err("invalid", ringlb.metrics("127.0.0.1:1"))
  T.eq(k0.metrics + 1, ringlb._kept().metrics, "another address reaches Go")
  io.stdout:write("bound " .. addr .. "\n")
  io.stdout:flush()
  os.execute("sleep 30")
elseif mode == "all" then
	local addr = assert(ringlb.metrics("*:0"))
	io.stdout:write("bound " .. addr .. "\n")
	io.stdout:flush()
	os.execute("sleep 30")
elseif mode == "second" then
  local ok, err, code = ringlb.metrics(arg[3])
  io.stdout:write(string.format("%s %s %s\n", tostring(ok), tostring(code), tostring(err)))
end
