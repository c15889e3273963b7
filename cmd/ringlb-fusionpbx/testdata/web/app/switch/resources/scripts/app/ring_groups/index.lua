--	A stand-in for FusionPBX's ring group script, written for these tests:
--	only its shape matters (a comment block, then code that reads the ring
--	group), not what it does.
--
--	Contributor(s):
--	ringlb tests

--include the log
	log = require "resources.functions.log".ring_group

--get the variables
	if (session:ready()) then
		ring_group_uuid = session:getVariable("ring_group_uuid");
	end

--get the destinations
	sql = "SELECT r.ring_group_strategy FROM v_ring_groups as r, v_ring_group_destinations as d ";
