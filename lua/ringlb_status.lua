-- ringlb_status.lua: print a balancer's loads and holds.
--
--   fs_cli -x "lua ringlb_status.lua sales"
--
-- Writes to the API stream when run as an API command, else to the log.
local ring = require "ringlb.ring"

local function out(line)
	if stream then
		stream:write(line .. "\n")
	elseif freeswitch and freeswitch.consoleLog then
		freeswitch.consoleLog("INFO", line .. "\n")
	end
end

local name = argv and argv[1]
if not name or name == "" then
	out("usage: lua ringlb_status.lua <balancer>")
	return
end
local b, err = ring.find(name)
if not b then
	out("-ERR " .. tostring(err))
	return
end
local snap, serr = b:snapshot()
if not snap then
	out("-ERR " .. tostring(serr))
	return
end
out(string.format("balancer %s (%s)", tostring(snap.name), tostring(snap.backend)))
out(string.format("%-32s %6s %8s %7s %8s", "destination", "active", "capacity", "drained", "started"))
local dests = snap.destinations or {}
table.sort(dests, function(x, y) return x.dest < y.dest end)
for _, d in ipairs(dests) do
	out(string.format("%-32s %6d %8s %7s %8d", d.dest, d.active or 0,
		(d.capacity and d.capacity > 0) and tostring(d.capacity) or "-",
		d.drained and "yes" or "no", d.started or 0))
end
local holds = snap.holds or {}
out(string.format("%d hold(s)", #holds))
for _, h in ipairs(holds) do
	out(string.format("  %s  %s  node=%s  since=%s", h.dest, h.call_id, tostring(h.node), tostring(h.start)))
end
