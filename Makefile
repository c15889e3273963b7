# ringlb - see README.md. `make ci` runs exactly what CI runs.
LUA ?= 5.3
GO ?= go
# A flavour's names (build directory, interpreter...) come from scripts/flavour.sh.
flavour = $(shell scripts/flavour.sh $(1) $(2))
LUAS := $(shell scripts/flavour.sh all)
# Where `make install` puts things (Debian FreeSWITCH packages' defaults).
MODDIR ?= /usr/lib/freeswitch/lua
SCRIPTDIR ?= /usr/share/freeswitch/scripts
BINDIR ?= /usr/bin
# Lua's own module directory for the flavour (in mod_lua's default cpath, which
# FusionPBX's lua.conf.xml keeps): a link there lets require "ringlb" find the module.
LUACDIR ?= /usr/lib/x86_64-linux-gnu/lua/$(call flavour,$(LUA),lua_abi)

# The tests of tests/<dir> are `make <dir>test`, which runs tests/<dir>/run.sh
# with a Lua flavour: LUA's, or every flavour where the flavour matters.
TESTS := apitest ctest conftest dashboardtest debtest fusionpbxtest opstest redistest ringtest rttest

.PHONY: deps deps-lua generate all build all-lua install install-conf test ci vet gotest $(TESTS) benchtest simtest demo bench sim ringlbctl deb clean

all: build

# Installs the missing Debian packages that make test needs (scripts/deps.sh):
# Lua 5.1-5.4, LuaJIT, headers, redis-server, prometheus, lintian, xmllint.
deps:
	@scripts/deps.sh test

# Only what building and running the LUA flavour needs (make build, make demo).
deps-lua:
	@scripts/deps.sh lua $(LUA)

build: deps-lua
	@echo "build: ringlb.so for Lua $(LUA) (a first build also fetches and compiles the Go modules)"
	@./build.sh $(LUA)

all-lua: deps
	@for v in $(LUAS); do ./build.sh $$v || exit 1; done

install: build
	install -d $(DESTDIR)$(MODDIR) $(DESTDIR)$(SCRIPTDIR)/ringlb
	install -m 0644 $(call flavour,$(LUA),so_dir)/ringlb.so $(DESTDIR)$(MODDIR)/ringlb.so
	install -m 0644 lua/ringlb/*.lua $(DESTDIR)$(SCRIPTDIR)/ringlb/
	install -m 0644 lua/ringlb_*.lua $(DESTDIR)$(SCRIPTDIR)/
	$(GO) build -trimpath -o build/ringlb-fusionpbx ./cmd/ringlb-fusionpbx
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LUACDIR)
	install -m 0755 build/ringlb-fusionpbx $(DESTDIR)$(BINDIR)/ringlb-fusionpbx
	ln -sf $(MODDIR)/ringlb.so $(DESTDIR)$(LUACDIR)/ringlb.so
	@echo "installed $(DESTDIR)$(MODDIR)/ringlb.so (linked from $(DESTDIR)$(LUACDIR)), the scripts into $(DESTDIR)$(SCRIPTDIR), ringlb-fusionpbx into $(DESTDIR)$(BINDIR)"

# FreeSWITCH configuration (scripts/install-conf.sh): copies what is
# missing, adds ringlb's lines to an existing lua.conf.xml (with a backup)
# and shows how existing examples differ; CHECK=1 only says what it would do.
CONFDIR ?= /etc/freeswitch
install-conf:
	@scripts/install-conf.sh $(if $(CHECK),--check) $(DESTDIR)$(CONFDIR)

# The C ABI's code from the table of operations in internal/abigen (its
# outputs are committed; go test fails when they are stale).
generate:
	$(GO) generate .

vet:
	$(GO) vet ./...

gotest: deps
	$(GO) test -race -count=1 ./...

# The Lua API in every flavour (and the C ABI from LuaJIT's FFI).
apitest: all-lua
	@for v in $(LUAS); do tests/api/run.sh $$v || exit 1; done

# The C ABI from C hosts: threads, signals, cancellation, deadlines, fork,
# several lua_States.
ctest: build
	tests/c/run.sh $(LUA)

# make install-conf on temp CONFDIRs: fresh, with an operator's lua.conf.xml, twice.
conftest: deps
	tests/conf/run.sh $(LUA)

# Every query of docs/grafana-ringlb.json through a real Prometheus scraping
# real switch processes (a busy and an idle one): data, and never NaN.
dashboardtest: build
	tests/dashboard/run.sh $(LUA)

# The package built, checked by lintian, installed with dpkg -i, loaded,
# replaced by another flavour's, removed (needs root).
debtest: deps
	tests/deb/run.sh $(LUA)

# FusionPBX ring groups with the balancing strategy (SQLite database, Redis).
fusionpbxtest: all-lua
	@for v in $(LUAS); do tests/fusionpbx/run.sh $$v || exit 1; done

# The fs_cli admin script in every flavour.
opstest: all-lua
	@for v in $(LUAS); do tests/ops/run.sh $$v || exit 1; done

# Several switch nodes (Lua processes) sharing one real redis-server.
redistest: all-lua
	tests/redis/run.sh 5.3
	tests/redis/run.sh jit

# Ring groups through the real helper and .so, in every flavour.
ringtest: all-lua
	@for v in $(LUAS); do tests/ring/run.sh $$v || exit 1; done

# Bursts of realtime threads calling in.
rttest: build
	tests/rt/run.sh $(LUA)

# The benchmark tools run (small sizes); they never judge timings.
benchtest: build
	BENCH_OUT=$$(mktemp) bench/run.sh --quick >/dev/null

# The simulation command runs (small size: 2 seeds, quarter shifts, a capped
# bound search); go test checks its models.
simtest:
	$(GO) run ./cmd/ringlb-sim -calls 500 -seeds 2 -scale 0.25 -bound-runs 200 -scenario all >/dev/null

test: vet gotest $(TESTS) benchtest simtest
	@echo "all tests passed"

ci: test

# Full benchmarks: a markdown report on stdout and in bench-results.md.
bench: build
	bench/run.sh

# The balance simulation: ringlb against genesis, sequential and random on
# every trace, 10 seeds each, with the hindsight bound and the lookahead
# (about ten minutes on two cores).
sim:
	$(GO) run ./cmd/ringlb-sim -scenario all -lookahead -out docs/balance.md -svg docs/balance.svg

ringlbctl:
	$(GO) build -o build/ringlbctl ./cmd/ringlbctl

# build/ringlb-lua5.3_<version>_amd64.deb (package ringlb-lua5.3) for the Lua
# that mod_lua uses: LUA=5.3 (default), 5.1, 5.2, 5.4, jit (ringlb-luajit).
deb: deps-lua
	scripts/deb.sh $(LUA)

demo: build
	@echo "demo: a simulated call centre rung through $(call flavour,$(LUA),so_dir)/ringlb.so ($(call flavour,$(LUA),lua_interp), memory backend)"
	@$(call flavour,$(LUA),lua_interp) demo/demo.lua $(call flavour,$(LUA),so_dir)

clean:
	rm -rf build
