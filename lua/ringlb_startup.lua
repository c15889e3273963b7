-- ringlb_startup.lua: ringlb's start-up, run once by mod_lua as the switch
-- starts. Switch it on in lua.conf.xml:
--   <param name="startup-script" value="ringlb_startup.lua"/>
--
-- mod_lua starts each startup-script in a thread of its own while it loads,
-- waits 10 ms, and the switch takes its first call only after every module
-- has loaded (docs/freeswitch.md). So this script's Lua state is the
-- process's first, made before any call can make one. That matters: the
-- first Lua state sets up mod_lua's SWIG type tables, process-wide and
-- without a lock, and two threads making the first states at once (the
-- tracker hook on the event thread and a ring script on a call's thread, at
-- the first call) can leave a type list that loops forever or crash the
-- switch. Once one state exists, later ones share the finished tables.
--
-- It then loads ringlb, so the Go runtime starts now rather than inside the
-- first call, and starts the Prometheus endpoint when the global variable
-- ringlb_metrics (host:port, vars.xml) is set, so it answers as soon as the
-- switch is up. A port in use is logged once by ringlb; each ring tries again.
local function log(level, msg)
	freeswitch.consoleLog(level, "ringlb_startup: " .. msg .. "\n")
end

-- The line's time shows the first Lua state came before the switch took
-- calls ("FreeSWITCH Started" in the log).
log("INFO", "started as mod_lua loads")
local ok, ringlb = pcall(require, "ringlb")
if not ok then
	log("ERR", "ringlb not loaded: " .. tostring(ringlb))
	return
end
log("INFO", "ringlb " .. tostring(ringlb._VERSION) .. " loaded")
local bound = require("ringlb.options").metrics()
if bound then
	log("INFO", "metrics on http://" .. bound .. "/metrics")
end
