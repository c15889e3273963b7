-- What FusionPBX's resources/functions/config.lua gives the scripts,
-- written for these tests: FusionPBX's reads config.conf into globals
-- (database.system is the DSN its native database backend opens with
-- freeswitch.Dbh; scripts_dir, recordings_dir). Here the values come from
-- global variables the test sets.
database = { system = freeswitch.getGlobalVariable("fixture_dsn") }
scripts_dir = freeswitch.getGlobalVariable("fixture_scripts_dir")
recordings_dir = freeswitch.getGlobalVariable("fixture_recordings_dir")
