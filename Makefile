# ringlb - see README.md. `make ci` runs exactly what CI runs.
LUA ?= 5.3
LUAS := 5.1 5.2 5.3 5.4 jit
GO ?= go
# Where `make install` puts things (Debian FreeSWITCH packages' defaults).
MODDIR ?= /usr/lib/freeswitch/lua
SCRIPTDIR ?= /usr/share/freeswitch/scripts
BINDIR ?= /usr/bin
# Lua's own module directory for the flavour (in mod_lua's default cpath, which
# FusionPBX's lua.conf.xml keeps): a link there lets require "ringlb" find the module.
LUACDIR ?= /usr/lib/x86_64-linux-gnu/lua/$(if $(filter jit luajit,$(LUA)),5.1,$(LUA))

so_dir = build/$(if $(filter jit luajit,$(1)),luajit,lua$(1))
interp = $(if $(filter jit luajit,$(1)),luajit,lua$(1))

.PHONY: deps all build all-lua install install-conf test ci vet gotest ctest luatest ringtest fusionpbxtest opstest redistest rttest benchtest simtest debtest demo bench sim ringlbctl deb clean

all: build

# Installs missing Debian packages (Lua 5.1-5.4, LuaJIT, headers, redis-server).
deps:
	@scripts/deps.sh

build: deps
	./build.sh $(LUA)

all-lua: deps
	@for v in $(LUAS); do ./build.sh $$v || exit 1; done

install: build
	install -d $(DESTDIR)$(MODDIR) $(DESTDIR)$(SCRIPTDIR)/ringlb
	install -m 0644 $(call so_dir,$(LUA))/ringlb.so $(DESTDIR)$(MODDIR)/ringlb.so
	install -m 0644 lua/ringlb/*.lua $(DESTDIR)$(SCRIPTDIR)/ringlb/
	install -m 0644 lua/ringlb_*.lua $(DESTDIR)$(SCRIPTDIR)/
	$(GO) build -trimpath -o build/ringlb-fusionpbx ./cmd/ringlb-fusionpbx
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LUACDIR)
	install -m 0755 build/ringlb-fusionpbx $(DESTDIR)$(BINDIR)/ringlb-fusionpbx
	ln -sf $(MODDIR)/ringlb.so $(DESTDIR)$(LUACDIR)/ringlb.so
	@echo "installed ringlb.so into $(MODDIR) (linked from $(LUACDIR)), scripts into $(SCRIPTDIR), ringlb-fusionpbx into $(BINDIR)"

# FreeSWITCH config examples; never overwrites a file that exists.
CONFDIR ?= /etc/freeswitch
install-conf:
	install -d $(DESTDIR)$(CONFDIR)/autoload_configs $(DESTDIR)$(CONFDIR)/dialplan/default
	cp -n freeswitch-conf/autoload_configs/lua.conf.xml $(DESTDIR)$(CONFDIR)/autoload_configs/
	cp -n freeswitch-conf/dialplan/default/ringlb.xml $(DESTDIR)$(CONFDIR)/dialplan/default/
	cp -n freeswitch-conf/vars_ringlb.xml $(DESTDIR)$(CONFDIR)/
	@echo "add <X-PRE-PROCESS cmd=\"include\" data=\"vars_ringlb.xml\"/> to $(CONFDIR)/vars.xml"

vet: deps
	$(GO) vet ./...

gotest: deps
	$(GO) test -race -count=1 ./...

# The C ABI from plain pthreads, and two lua_States in one C host.
ctest: build
	tests/c/run.sh $(call so_dir,$(LUA))

# The module's API in every Lua flavour, each with its own build.
luatest: all-lua
	@for v in $(LUAS); do tests/api/run.sh $(call interp,$$v) $(call so_dir,$$v) || exit 1; done

# The fs_cli admin script in every Lua flavour.
opstest: all-lua
	@for v in $(LUAS); do tests/ops/run.sh $(call interp,$$v) $(call so_dir,$$v) || exit 1; done

# Several switch nodes (Lua processes) sharing one real redis-server.
redistest: all-lua
	tests/redis/run.sh lua5.3 build/lua5.3
	tests/redis/run.sh luajit build/luajit

# Ring groups through the real helper and .so, in every Lua flavour.
ringtest: all-lua
	@for v in $(LUAS); do tests/lua/run.sh $(call interp,$$v) $(call so_dir,$$v) || exit 1; done

# FusionPBX ring groups with the balancing strategy (SQLite database, Redis).
fusionpbxtest: all-lua
	@for v in $(LUAS); do tests/fusionpbx/run.sh $(call interp,$$v) $(call so_dir,$$v) || exit 1; done

# Bursts of realtime threads calling in.
rttest: build
	tests/rt/run.sh $(call so_dir,$(LUA))

# The benchmark tools run (small sizes); they never judge timings.
benchtest: build
	BENCH_OUT=$$(mktemp) bench/run.sh --quick >/dev/null

# The simulation command runs (small size); go test checks its models.
simtest:
	$(GO) run ./cmd/ringlb-sim -calls 500 -scenario all >/dev/null

test: vet gotest ctest luatest opstest ringtest fusionpbxtest redistest rttest benchtest simtest debtest
	@echo "all tests passed"

ci: test

# Full benchmarks: a markdown report on stdout and in bench-results.md.
bench: build
	bench/run.sh

# The balance simulation: ringlb against genesis, sequential and random.
sim:
	$(GO) run ./cmd/ringlb-sim -scenario all -out docs/balance.md -svg docs/balance.svg

ringlbctl:
	$(GO) build -o build/ringlbctl ./cmd/ringlbctl

# build/ringlb_<version>_amd64.deb for the Lua that mod_lua uses (LUA=5.3).
deb: deps
	scripts/deb.sh $(LUA)

# The package built, installed with dpkg -i, loaded, removed (needs root).
debtest: deps
	tests/deb/run.sh

demo: build
	@$(call interp,$(LUA)) demo/demo.lua $(call so_dir,$(LUA))

clean:
	rm -rf build
