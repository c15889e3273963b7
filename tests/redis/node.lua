-- node.lua SO_DIR URL MODE ARGS... - one switch node in the multi-node Redis
-- tests: a separate OS process with its own Go runtime, loading the real .so.
--   storm NODE N     N rounds of next + release on a shared group; prints
--                    "spread dest=count ..." and "violations N"
--   hold NODE DEST CALL   holds DEST for CALL, prints "held", then sleeps
--                    (its Go runtime keeps renewing the lease) until killed
--   load DEST...     prints "load dest=n ..."
--   try NODE         one next + release; prints "ok <dest>" or "err <code> <msg>"
local so_dir, url, mode = arg[1], arg[2], arg[3]
package.cpath = so_dir .. "/?.so"
local ringlb = require "ringlb"

local group = { "agent/1", "agent/2", "agent/3", "agent/4", "agent/5" }
local CAP = 2

-- open opens the shared balancer; each process has its own registry, so
-- the node name can differ between processes. Its operations may take up to
-- timeout seconds (default 5): only "try" fails on a down Redis, where the
-- default 250 ms shows a call that hangs; the others wait out a loaded
-- machine (a storm call or a renewal that timed out would fail the test for
-- the machine's speed, not ringlb's behaviour).
local function open(node, timeout)
  local opts = { url = url, key_prefix = "ringlbtest:", lease = 2, capacity = CAP, timeout = timeout or 5 }
  if node then opts.node = node end
  return ringlb.open("multinode", opts)
end

if mode == "storm" then
  local node, n = arg[4], tonumber(arg[5])
  local b = assert(open(node))
  local spread, violations, busy = {}, 0, 0
  for _, d in ipairs(group) do spread[d] = 0 end
  for i = 1, n do
    local id = node .. "-" .. i
    local dest, err, code = b:next(group, id)
    if dest then
      spread[dest] = spread[dest] + 1
      local l = assert(b:load(dest))
      if l > CAP then violations = violations + 1 end
      assert(b:release(dest, id) == true, "release lost")
    elseif code == "at_capacity" then
      busy = busy + 1
    else
      error(err)
    end
  end
  local out = {}
  for _, d in ipairs(group) do out[#out + 1] = d .. "=" .. spread[d] end
  print("spread " .. table.concat(out, " "))
  print("violations " .. violations)
  print("busy " .. busy)
elseif mode == "hold" then
  local b = assert(open(arg[4]))
  assert(b:acquire(arg[5], arg[6]))
  print("held")
  io.stdout:flush()
  -- Short sleeps, so no long-lived child outlives a SIGKILL of this process
  -- (and holds the test's output pipe open).
  for _ = 1, 600 do os.execute("sleep 1") end
elseif mode == "try" then
  -- One next + release, printing what happened instead of raising: "ok
  -- <dest>" or "err <code> <message>".
  local b, err, code = open(arg[4], 0.25)
  if not b then
    print("err " .. tostring(code) .. " " .. tostring(err))
    return
  end
  local dest, nerr, ncode = b:next(group, "try-" .. arg[4])
  if dest then
    assert(b:release(dest, "try-" .. arg[4]))
    print("ok " .. dest)
  else
    print("err " .. tostring(ncode) .. " " .. tostring(nerr))
  end
elseif mode == "load" then
  local b = assert(open(nil))
  local dests = {}
  for i = 4, #arg do dests[#dests + 1] = arg[i] end
  local t = assert(b:loads(dests))
  local out = {}
  for _, d in ipairs(dests) do out[#out + 1] = d .. "=" .. t[d] end
  print("load " .. table.concat(out, " "))
else
  error("unknown mode " .. tostring(mode))
end
