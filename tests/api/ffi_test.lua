-- ffi_test.lua SO_DIR: the C ABI of ringlb.h from LuaJIT's FFI, the way a
-- C module or an FFI script inside FreeSWITCH would use it.
local so_dir = assert(arg[1], "usage: luajit ffi_test.lua SO_DIR")
local ffi = require "ffi"

-- The declarations of the real cgo/ringlb.h (next to the .so after a build),
-- without its preprocessor lines and C++ guards: the header must stay
-- usable by ffi.cdef as it is.
local function header_decls(path)
  local f = assert(io.open(path, "rb"))
  local out, skip = {}, false
  for line in f:lines() do
    if line:match("^#ifdef __cplusplus") then
      skip = true
    elseif skip and line:match("^#endif") then
      skip = false
    elseif not skip and not line:match("^#") then
      out[#out + 1] = line
    end
  end
  f:close()
  return table.concat(out, "\n")
end
ffi.cdef(header_decls(so_dir .. "/ringlb.h"))
local lib = ffi.load(so_dir .. "/ringlb.so")
local passed, failed = 0, 0
local function check(what, cond, detail)
  if cond then passed = passed + 1 else
    failed = failed + 1
    io.stderr:write("FAIL ", what, ": ", tostring(detail), "\n")
  end
end

local err = ffi.new("char[256]")
local function strs(t)
  local a = ffi.new("const char *[?]", #t)
  for i = 1, #t do a[i - 1] = t[i] end
  return a
end

check("version", ffi.string(lib.ringlb_version()):match("^%d+%.%d+%.%d+"), ffi.string(lib.ringlb_version()))
local h = ffi.new("uint64_t[1]")
local keys, vals = strs({ "capacity", "tie" }), strs({ "1", "list" })
local rc = lib.ringlb_open("ffi-test", 2, keys, vals, h, err, 256)
check("open", rc == 0, ffi.string(err))

local dests = { "user/1001", "user/1002", "user/1003" }
local d = strs(dests)
local chosen = ffi.new("int[1]")
rc = lib.ringlb_next(h[0], 3, d, "call-1", chosen, err, 256)
check("next picks the first with list ties", rc == 0 and chosen[0] == 0, ffi.string(err))
rc = lib.ringlb_next(h[0], 3, d, "call-2", chosen, err, 256)
check("next skips the full one", rc == 0 and chosen[0] == 1, ffi.string(err))

local order, count = ffi.new("int[3]"), ffi.new("int[1]")
rc = lib.ringlb_order(h[0], 3, d, order, count, err, 256)
check("order leaves out full destinations", rc == 0 and count[0] == 1 and order[0] == 2, ffi.string(err))

local flag = ffi.new("int[1]")
rc = lib.ringlb_acquire(h[0], "user/1001", "call-9", flag, err, 256)
check("acquire of a full destination is RINGLB_EFULL (-2)", rc == -2, rc)
rc = lib.ringlb_release(h[0], "user/1001", "call-1", flag, err, 256)
check("release", rc == 0 and flag[0] == 1, ffi.string(err))
rc = lib.ringlb_release(h[0], "user/1001", "call-1", flag, err, 256)
check("second release reports nothing held", rc == 0 and flag[0] == 0, ffi.string(err))

local out = ffi.new("char *[1]")
rc = lib.ringlb_snapshot(h[0], 1, out, err, 256)
check("snapshot as JSON", rc == 0 and out[0] ~= nil and ffi.string(out[0]):find('"call_id": "call%-2"'), ffi.string(err))
if out[0] ~= nil then lib.ringlb_free(out[0]) end

rc = lib.ringlb_release(h[0], "user/1002", "call-2", flag, err, 256)
local loads = ffi.new("int64_t[3]")
rc = lib.ringlb_load(h[0], 3, d, loads, err, 256)
check("every load back to zero", rc == 0 and loads[0] == 0 and loads[1] == 0 and loads[2] == 0, ffi.string(err))

rc = lib.ringlb_next(h[0], 3, nil, "c", chosen, err, 256)
check("NULL destinations are RINGLB_EINVAL (-4)", rc == -4, ffi.string(err))
rc = lib.ringlb_next(12345, 3, d, "c", chosen, err, 256)
check("an unknown handle is RINGLB_EHANDLE (-8)", rc == -8, ffi.string(err))

print(string.format("%s ffi: %d passed, %d failed", jit.version, passed, failed))
os.exit(failed == 0 and 0 or 1)
