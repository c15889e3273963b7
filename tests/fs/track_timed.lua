-- track_timed.lua ARGS: the shipped tracker (ringlb_track.lua), timed, for
-- the switch tests only (tests/fs/window.sh binds it in place of
-- ringlb_track.lua, as event hook and, with DIRECTORY=originate, as the
-- directory's execute_on_originate). Around the tracker it fires CUSTOM
-- ringlb_test::tracked twice (Tracked-Phase start, then done), so that the
-- event socket sees when it began (after its Lua state was made) and when
-- the count landed, as each event's Event-Date-Timestamp, next to when the
-- channel was created (Caller-Channel-Created-Time) and its event fired.
-- Tracked-Event is the event's name, or ORIGINATE when run on a new leg.
local uuid, name, fired
if event then
	uuid, name, fired = event:getHeader("Unique-ID"), event:getHeader("Event-Name"), event:getHeader("Event-Date-Timestamp")
elseif session then
	uuid, name, fired = session:get_uuid(), "ORIGINATE", "0"
else
	return
end
local function mark(phase)
	local e = freeswitch.Event("CUSTOM", "ringlb_test::tracked")
	e:addHeader("Tracked-Phase", phase)
	e:addHeader("Tracked-Unique-ID", uuid or "")
	e:addHeader("Tracked-Event", name or "")
	e:addHeader("Tracked-Event-Date", fired or "0")
	e:fire()
end
mark("start")
dofile(freeswitch.getGlobalVariable("script_dir") .. "/ringlb_track.lua")
mark("done")
