-- plain_ring.lua MEMBERS [TIMEOUT]: the floor the ring script is measured
-- against (tests/fs/cpu.sh): what a ring group written in plain Lua without
-- ringlb does, members tried one after another in list order, each for
-- TIMEOUT (20) seconds, the first to answer bridged. No balancer, no holds,
-- no events, no do-not-disturb lookups. For the switch tests only.
if not session then
	return
end
local timeout = tonumber(argv[2]) or 20
session:setVariable("continue_on_fail", "true")
session:setVariable("hangup_after_bridge", "true")
for member in string.gmatch(argv[1] or "", "[^,%s]+") do
	if not session:ready() then
		return
	end
	local leg = freeswitch.Session("{originate_timeout=" .. timeout .. "}" .. member, session)
	if leg:ready() and leg:answered() then
		freeswitch.bridge(session, leg)
		if leg:ready() then
			leg:hangup("NORMAL_CLEARING")
		end
		return
	end
end
