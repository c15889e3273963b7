-- ffi_load.lua SO_PATH - LuaJIT's ffi.load of ringlb.so gives the loading
-- thread its own signal mask back before it returns, so that a SIGTERM
-- between loading and the first call ends the process as it should.
--
-- ringlb blocks the host's signals on the loading thread while the Go
-- runtime starts (its threads take their mask from that thread) and must
-- unblock them before dlopen returns: a Lua host that ffi.loads the library
-- (unlike mod_lua's require, which calls luaopen_ringlb at once) may run
-- for long before its first call. ffi.load binds every symbol at load
-- (RTLD_NOW), and this build's Lua module needs lua_* symbols that LuaJIT
-- does not have: Lua 5.3's library is loaded with global symbols first, as
-- a host that embeds Lua 5.3 would have them.
--
-- Exits 1 with a message when something is wrong. When all is well it does
-- not exit at all: it sends itself SIGTERM and dies of it (run.sh checks
-- for that status).
local so = assert(arg[1], "usage: luajit ffi_load.lua SO_PATH")
local ffi = require("ffi")
ffi.cdef [[
int getpid(void);
int kill(int pid, int sig);
int usleep(unsigned int usec);
int ringlb_noop(void);
]]

local function sigblk()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^SigBlk:%s*(%x+)")
    if v then return v end
  end
end

local before = sigblk()
ffi.load("liblua5.3.so.0", true)
local ringlb = ffi.load(so)
local after = sigblk()
if before ~= after then
  print(("FAIL: ffi.load left the thread's signal mask changed: SigBlk %s before, %s after"):format(before, after))
  os.exit(1)
end
print(("ffi.load: SigBlk %s before and after"):format(after))
io.stdout:flush()
-- No call into ringlb yet: the default action of SIGTERM ends the process.
ffi.C.kill(ffi.C.getpid(), 15)
ffi.C.usleep(2000000)
print("FAIL: SIGTERM sent between ffi.load and the first call did not end the process (blocked)")
print("ringlb_noop", ringlb.ringlb_noop())
os.exit(1)
