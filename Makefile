# tapbox: every entry point. `make run` and `make test` are all a fresh Debian 12 needs.
#
#   make [all]       build/tapboxd and build/tapbox-tap (optimised)
#   make run         build, then replay the bundled demo capture live (Ctrl-C stops)
#   make test        ASan+UBSan build, unit, CLI, integration and golden-capture tests
#   make cross       build/armhf/tapboxd for the BeagleBone (Cortex-A8)
#   make test-armhf  unit tests, cross-built with sanitizers, under qemu-arm -cpu cortex-a8
#   make bench       throughput and memory against a reference reader and softflowd
#   make image       output/images/sdcard.img      make qemu / qemu-test: boot it in QEMU
#   make clean

include toolchain/cross.mk

PKGS        := libuv libpcap libndpi libsodium lua5.4 sqlite3 libcjson libh2o libssl libcrypto
VERSION     := 0.1.0
CSTD        := -std=c11 -Isrc -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DTAPBOX_VERSION='"$(VERSION)"'
WARN        := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Wno-format-truncation
SANITIZE    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
DEMO_PCAP   := rootfs/usr/share/tapbox/demo.pcap

# Sources: every src/**/*.c but the programs' mains goes into a static library, and each
# program (and the unit tests) links only the objects it uses from it.
SRCS        := $(sort $(shell find src -name '*.c'))
MAINS       := src/daemon/tapboxd.c src/tap/main.c
LIB_SRCS    := $(filter-out $(MAINS),$(SRCS))
UNIT_SRCS   := $(sort $(wildcard test/unit/*.c))
PROGRAMS    := tapboxd $(if $(wildcard src/tap/main.c),tapbox-tap)
main_of     = $(if $(filter tapboxd,$1),src/daemon/tapboxd,src/tap/main)

# pkg-config runs lazily (=): on a fresh machine the libraries arrive with `deps`.
NATIVE_CFLAGS = $(shell pkg-config --cflags $(PKGS))
NATIVE_LIBS   = $(shell pkg-config --libs $(PKGS))

DEPS_STAMP  := build/.deps-native

.PHONY: all run test test-unit test-armhf cross bench image qemu qemu-test clean deps
all: $(PROGRAMS:%=build/%)

deps: $(DEPS_STAMP)
# deps.sh is quiet and quick when everything is installed; the stamp spares even that.
$(DEPS_STAMP): toolchain/deps.sh
	@mkdir -p $(@D)
	@toolchain/deps.sh build test
	@touch $@

# ---- native builds: build/obj (release) and build/asan (tests) ----
build/obj/%.o: %.c Makefile $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) -O2 -g -MMD -MP $(NATIVE_CFLAGS) -c $< -o $@

build/asan/%.o: %.c Makefile $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) -O1 -g $(SANITIZE) -MMD -MP $(NATIVE_CFLAGS) -c $< -o $@

build/obj/libtapbox.a: $(LIB_SRCS:%.c=build/obj/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

build/asan/libtapbox.a: $(LIB_SRCS:%.c=build/asan/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

.SECONDEXPANSION:
$(PROGRAMS:%=build/%): build/%: build/obj/$$(call main_of,%).o build/obj/libtapbox.a
	$(CC) $^ $(NATIVE_LIBS) -o $@

$(PROGRAMS:%=build/asan/%): build/asan/%: build/asan/$$(call main_of,%).o build/asan/libtapbox.a
	$(CC) $(SANITIZE) $^ $(NATIVE_LIBS) -o $@

build/asan/unit_tests: $(UNIT_SRCS:%.c=build/asan/%.o) build/asan/libtapbox.a
	$(CC) $(SANITIZE) $^ $(NATIVE_LIBS) -o $@

run: build/tapboxd
	@echo "tapboxd replays $(DEMO_PCAP) at capture speed, in a loop; ended flows print as JSON lines."
	@echo "Web UI: http://localhost:3000/ (first login admin/admin, then choose a password). Ctrl-C stops."
	build/tapboxd -i $(DEMO_PCAP) --replay=realtime --loop --history --flows-out=-

test: $(PROGRAMS:%=build/asan/%) build/asan/unit_tests $(PROGRAMS:%=build/%)
	@test/run-tests.sh

# ---- armhf ----
ARMHF_OBJDIR := build/armhf/obj
ARMHF_AR     := arm-linux-gnueabihf-ar
ARMHF_COMPILE = $(ARMHF_CC) $(CSTD) $(WARN) $(ARMHF_CFLAGS) -MMD -MP $(call armhf_pkg_cflags,$(PKGS))

$(ARMHF_OBJDIR)/%.o: %.c Makefile $(ARMHF_SYSROOT_STAMP)
	@mkdir -p $(@D)
	$(ARMHF_COMPILE) -O2 -g -c $< -o $@

# armhf tests run under qemu-user, where AddressSanitizer cannot map the shadow of the stacks qemu
# gives to threads (libuv's pool): they get UBSan only; ASan covers the same code natively.
ARMHF_TEST_SAN := -fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

build/armhf/asan/%.o: %.c Makefile $(ARMHF_SYSROOT_STAMP)
	@mkdir -p $(@D)
	$(ARMHF_COMPILE) -O1 -g $(ARMHF_TEST_SAN) -c $< -o $@

build/armhf/libtapbox.a: $(LIB_SRCS:%.c=$(ARMHF_OBJDIR)/%.o)
	@rm -f $@
	$(ARMHF_AR) rcs $@ $^

build/armhf/asan/libtapbox.a: $(LIB_SRCS:%.c=build/armhf/asan/%.o)
	@rm -f $@
	$(ARMHF_AR) rcs $@ $^

$(PROGRAMS:%=build/armhf/%): build/armhf/%: $(ARMHF_OBJDIR)/$$(call main_of,%).o build/armhf/libtapbox.a
	$(ARMHF_CC) $(ARMHF_LDFLAGS) $^ $(call armhf_pkg_libs,$(PKGS)) -o $@

build/armhf/unit_tests: $(UNIT_SRCS:%.c=build/armhf/asan/%.o) build/armhf/asan/libtapbox.a
	$(ARMHF_CC) $(ARMHF_LDFLAGS) $(ARMHF_TEST_SAN) $^ $(call armhf_pkg_libs,$(PKGS)) -o $@

$(DEPS_STAMP)-cross: toolchain/deps.sh
	@mkdir -p $(@D)
	@toolchain/deps.sh build cross
	@touch $@
$(ARMHF_SYSROOT_STAMP): | $(DEPS_STAMP)-cross

cross: $(PROGRAMS:%=build/armhf/%)
	@file $^ | sed 's/, BuildID[^,]*//'

test-armhf: build/armhf/unit_tests build/armhf/tapboxd build/tapboxd
	timeout 900 $(ARMHF_QEMU_SAN) build/armhf/unit_tests
	test/armhf-flows.sh build/tapboxd "$(ARMHF_QEMU)" build/armhf/tapboxd

# ---- benchmark, image, QEMU ----
bench: $(PROGRAMS:%=build/%)
	test/bench/run.sh
	test/bench/ntap-bench.sh build
	test/bench/web-bench.sh build
	test/bench/bump-bench.sh build
	test/bench/history-bench.sh build
	test/bench/history-query-bench.sh build
	test/bench/enrich-bench.sh build

image: $(PROGRAMS:%=build/armhf/%)
	@toolchain/deps.sh cross image test
	TAPBOX_BINS="$^" ARMHF_SYSROOT=$(ARMHF_SYSROOT) board/mkimage.sh beaglebone output

qemu: image
	board/qemu/run.sh output/images/sdcard.img

qemu-test: image
	test/qemu/run-test.sh output/images/sdcard.img

clean:
	rm -rf build/obj build/asan build/armhf $(PROGRAMS:%=build/%) output

-include $(shell find build/obj build/asan build/armhf/obj build/armhf/asan -name '*.d' -type f 2>/dev/null)
