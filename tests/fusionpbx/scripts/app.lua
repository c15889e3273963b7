-- What FusionPBX's app.lua does for a ring group, written for these tests:
-- load the config (globals), then run app/<argv[1]>/index.lua with argv.
require "resources.functions.config"
loadfile(scripts_dir .. "/app/" .. argv[1] .. "/index.lua")(argv)
