-- ringlb.options: a balancer's options, from FreeSWITCH global variables
-- (vars.xml), in one place for every script that opens a balancer: the
-- ring helper, the call tracker, the release hook, FusionPBX's strategy.
-- Each runs in a fresh Lua state; reading the same globals here makes them
-- all open the same balancer. ringlb_<name>_<option> wins over
-- ringlb_<option>, which wins over the balancer's default (DEFAULTS).
local ringlb = require "ringlb"

local M = { _NAME = "ringlb.options" }

-- VARS maps each balancer option to the suffix of its global variable.
M.VARS = {
	url = "url", tie = "tie", capacity = "capacity", max_hold_age = "max_hold_age",
	key_prefix = "key_prefix", lease = "lease", timeout = "redis_timeout", node = "node",
	wrapup = "wrapup", fewest_half_life = "fewest_half_life", user_domains = "user_domains",
	start_window = "start_window", no_answer_backoff = "no_answer_backoff",
	max_no_answer = "max_no_answer",
}

-- FUSIONPBX is the default name of the balancer FusionPBX's balancing ring
-- groups share; the global ringlb_fusionpbx_balancer names another.
M.FUSIONPBX = "fusionpbx"

-- global returns a global variable, or nil when unset or empty.
function M.global(name)
	local v = freeswitch and freeswitch.getGlobalVariable and freeswitch.getGlobalVariable(name)
	if v ~= nil and v ~= "" then
		return v
	end
	return nil
end

-- fusionpbx returns the name of FusionPBX's balancer.
function M.fusionpbx()
	return M.global("ringlb_fusionpbx_balancer") or M.FUSIONPBX
end

-- defaults returns the options balancer name has unless the globals say
-- otherwise: FusionPBX is multi-tenant, so its members are counted with
-- their domain (user/<extension>@<domain>) by the ring and the tracker alike.
function M.defaults(name)
	if name == M.fusionpbx() then
		return { user_domains = "keep" }
	end
	return {}
end

-- get returns the options of balancer name.
function M.get(name)
	local opts = M.defaults(name)
	for opt, suffix in pairs(M.VARS) do
		local v = M.global("ringlb_" .. name .. "_" .. suffix) or M.global("ringlb_" .. suffix)
		if v then
			opts[opt] = v
		end
	end
	return opts
end

-- open returns the process-wide balancer called name, opened with get(name),
-- or nil, err, code.
function M.open(name)
	if type(name) ~= "string" or name == "" then
		return nil, "ringlb: balancer name must be a non-empty string", "invalid"
	end
	return ringlb.open(name, M.get(name))
end

-- find returns the balancer called name already open in this process,
-- whatever its options, else opens it: for the hooks, which act on calls a
-- ring or an earlier hook already counted.
function M.find(name)
	return ringlb.get(name) or M.open(name)
end

-- metrics starts the Prometheus endpoint at the address of the global
-- ringlb_metrics (host:port), once per process; it returns the address, nil
-- when ringlb_metrics is unset, or nil, err, code. ringlb logs a failure
-- once for the process.
function M.metrics()
	local addr = M.global("ringlb_metrics")
	if not addr then
		return nil
	end
	return ringlb.metrics(addr)
end

return M
