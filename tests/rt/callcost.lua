-- callcost.lua N [floor] - N iterations of b:next + b:release from Lua (or,
-- with "floor", the same loop without the two ringlb calls). Stock Lua has no
-- sub-second wall clock, so tests/rt/run.sh cost times the process from
-- outside and subtracts a 0-iteration run:
--   LUA_CPATH='build/lua5.3/?.so' [chrt -f 10] lua5.3 tests/rt/callcost.lua 100000
local ringlb = require "ringlb"
local b = assert(ringlb.open("callcost-lua"))
local dests = {}
for i = 1, 10 do dests[i] = string.format("dest%02d", i - 1) end
local n, floor = tonumber(arg[1]) or 0, arg[2] == "floor"
for i = 1, n do
  local id = "lua-" .. i
  if floor then
    local d = dests[i % 10 + 1]
  else
    local d = b:next(dests, id)
    if not d or b:release(d, id) ~= true then error("ringlb call failed at " .. i) end
  end
end
local loads = b:loads(dests)
for _, d in ipairs(dests) do
  if loads[d] ~= 0 then error(d .. " has load " .. tostring(loads[d])) end
end
