# Shoal build. Plain make, pkg-config, -MMD -MP dependencies, quiet unless V=1.
#   make build   build/shoal           make test    every test (last line: N passed, N failed)
#   make run     the guided tour       make bench   benchmarks
#   make fuzz    libFuzzer harnesses   SAN=1        sanitizer build in build-san/
#   make check-layers   includes go one way: src/ layers, src/node modules
# Every target first runs scripts/deps.sh, which installs missing Debian packages:
# those of the build for build and run, those of the tests as well for test,
# bench and fuzz.

CC ?= cc
PKGS := libevent libevent_openssl libevent_pthreads openssl sqlite3 libprotobuf-c inih jansson

ifeq ($(SAN),1)
BUILD ?= build-san
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
OPT := -O2 -g
endif

# Recursively expanded, so pkg-config runs only after deps.sh has installed it.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS)) -lpthread
CMOCKA_LIBS = $(shell pkg-config --libs cmocka)

CFLAGS_ALL = -std=c17 -D_GNU_SOURCE $(OPT) -Wall -Wextra -Wno-missing-field-initializers \
	-MMD -MP -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(OPT) $(LDFLAGS)

ifneq ($(V),1)
Q := @
say = @printf '  %-7s %s\n' $(1) $(2);
else
Q :=
say :=
endif

PROTO_C := $(BUILD)/gen/proto/shoal.pb-c.c
PROTO_H := $(BUILD)/gen/proto/shoal.pb-c.h
LIB_SRCS := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
CLI_MAIN := src/cli/main.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(PROTO_C:.c=.o)
TEST_SRCS := $(wildcard tests/*/test_*.c)
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)
# Helper programs the integration tests drive (certificate forgers and the like).
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:%.c=$(BUILD)/%)
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
REPLAY_BINS := $(FUZZ_SRCS:fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)
DEPS_STAMP := $(BUILD)/.deps-build
TEST_DEPS_STAMP := $(BUILD)/.deps-test

.PHONY: all build test run bench fuzz clean format deps test-deps check-layers
all: build

build: $(BUILD)/shoal

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/deps.sh
	$(Q)./scripts/deps.sh build
	$(Q)mkdir -p $(@D) && touch $@

test-deps: $(TEST_DEPS_STAMP)
# After the build's packages: two apt-get runs at once would fight for the lock.
$(TEST_DEPS_STAMP): scripts/deps.sh | $(DEPS_STAMP)
	$(Q)./scripts/deps.sh test
	$(Q)mkdir -p $(@D) && touch $@

$(PROTO_C) $(PROTO_H) &: proto/shoal.proto | $(DEPS_STAMP)
	$(call say,PROTOC,$<)
	$(Q)mkdir -p $(BUILD)/gen/proto
	$(Q)protoc-c --c_out=$(BUILD)/gen $<

$(BUILD)/%.o: %.c | $(DEPS_STAMP) $(PROTO_H)
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(PROTO_C:.c=.o): $(PROTO_C)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/libshoal.a: $(LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/shoal: $(BUILD)/$(CLI_MAIN:.c=.o) $(BUILD)/libshoal.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%.o: tests/%.c | $(TEST_DEPS_STAMP) $(PROTO_H)
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libshoal.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS)

$(BUILD)/fuzz/replay_%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/fuzz/replay.o $(BUILD)/libshoal.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libshoal.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

test: $(BUILD)/shoal $(TEST_BINS) $(TOOL_BINS) $(REPLAY_BINS) | $(TEST_DEPS_STAMP)
	$(Q)./tests/run.sh $(BUILD)

check-layers: | $(TEST_DEPS_STAMP)
	$(Q)./scripts/check-layers

run: $(BUILD)/shoal
	$(Q)./scripts/tour.sh $(BUILD)/shoal

bench: $(BUILD)/shoal $(BENCH_BINS) $(TOOL_BINS) | $(TEST_DEPS_STAMP)
	$(Q)./bench/run.sh $(BUILD)

# libFuzzer builds (clang); FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 30
fuzz: | $(TEST_DEPS_STAMP)
	$(Q)./fuzz/run.sh $(FUZZ_SECONDS)

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

# Keep intermediate objects (fuzz harness objects would otherwise be deleted
# after linking and rebuilt every time).
.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
