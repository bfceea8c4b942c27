# toolchain/cross.mk -- armhf (BeagleBone, Cortex-A8) cross-build settings.
# `include toolchain/cross.mk` from the top-level Makefile. Nothing here is
# exported: PKG_CONFIG_* are set per command, so the native build is untouched.
#
# Provides
#   ARMHF_CC, ARMHF_READELF, ARMHF_STRIP   Debian's cross tools
#   ARMHF_SYSROOT ?= build/sysroot-armhf   private sysroot (toolchain/sysroot-armhf.sh)
#   ARMHF_SYSROOT_STAMP                    file target that (re)builds the sysroot;
#                                          make cross objects depend on it
#   ARMHF_CFLAGS, ARMHF_LDFLAGS            --sysroot and friends (add your own -O2 ...)
#   ARMHF_PKG_CONFIG                       "env VAR=... pkg-config": a command (recipes, $(shell))
#   $(call armhf_pkg_cflags,PKGS)          pkg-config --cflags, cached, fails loudly
#   $(call armhf_pkg_libs,PKGS)            pkg-config --libs, cached, fails loudly
#   ARMHF_QEMU                             run an armhf program: $(ARMHF_QEMU) ./t
#   ARMHF_SANFLAGS, ARMHF_QEMU_SAN         ASan+UBSan build flags and the runner for them
#
# Use the armhf_pkg_* functions only in recursively expanded (=) variables or
# in recipes, so they run after the sysroot exists, not while make parses.

ARMHF_TOOLCHAIN_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
_armhf_default_goal := $(.DEFAULT_GOAL)

ARMHF_TRIPLET := arm-linux-gnueabihf
ARMHF_CC      ?= $(ARMHF_TRIPLET)-gcc
ARMHF_READELF ?= $(ARMHF_TRIPLET)-readelf
ARMHF_STRIP   ?= $(ARMHF_TRIPLET)-strip
ARMHF_SYSROOT ?= build/sysroot-armhf
ARMHF_SYSROOT_STAMP = $(ARMHF_SYSROOT)/.tapbox-sysroot

_armhf_empty :=
_armhf_sp    := $(_armhf_empty) $(_armhf_empty)
_armhf_comma := ,
_armhf_root   = $(abspath $(ARMHF_SYSROOT))
_armhf_libdirs = $(_armhf_root)/lib/$(ARMHF_TRIPLET) $(_armhf_root)/usr/lib/$(ARMHF_TRIPLET)

# Debian's cross gcc keeps its own glibc headers, crt*.o and libc.so in
# /usr/arm-linux-gnueabihf and searches them first even with --sysroot; the
# sysroot supplies every other header and library (and the runtime glibc for
# qemu-arm). The default ISA (-march=armv7-a+fp -mthumb -mfloat-abi=hard) suits
# the Cortex-A8: never add -mcpu=cortex-a15 (emits sdiv: SIGILL on the A8).
ARMHF_CFLAGS  = --sysroot=$(_armhf_root) -mtune=cortex-a8
# --sysroot alone links fine; -rpath-link makes the search for the libraries'
# own DT_NEEDED (libssl for h2o, libgcrypt for ndpi, ...) explicit.
ARMHF_LDFLAGS = --sysroot=$(_armhf_root) \
  $(addprefix -Wl$(_armhf_comma)-rpath-link$(_armhf_comma),$(_armhf_libdirs))

# pkg-config against the sysroot. PKG_CONFIG_SYSTEM_* make it drop
# -I$(sysroot)/usr/include and -L$(sysroot)/usr/lib/..., exactly as the native
# pkg-config drops -I/usr/include (so library headers stay system headers and
# -Werror does not trip on them).
ARMHF_PKG_CONFIG = env PKG_CONFIG_SYSROOT_DIR=$(_armhf_root) \
  PKG_CONFIG_LIBDIR=$(_armhf_root)/usr/lib/$(ARMHF_TRIPLET)/pkgconfig:$(_armhf_root)/usr/share/pkgconfig \
  PKG_CONFIG_PATH= \
  PKG_CONFIG_SYSTEM_INCLUDE_PATH=$(_armhf_root)/usr/include \
  PKG_CONFIG_SYSTEM_LIBRARY_PATH=$(subst $(_armhf_sp),:,$(_armhf_libdirs)) \
  pkg-config

# $(call _armhf_pkg,--cflags|--libs,PKGS): run once per (mode, PKGS), cache it.
_armhf_pkg_var = _armhf_pkg$(subst $(_armhf_sp),_,$(strip $1 $2 $(ARMHF_SYSROOT)))
_armhf_pkg = $(strip \
  $(if $(filter undefined,$(origin $(_armhf_pkg_var))),\
    $(eval $(_armhf_pkg_var) := $$(shell $$(ARMHF_PKG_CONFIG) $1 $2 || echo ARMHF_PKG_CONFIG_FAILED)))\
  $(if $(filter ARMHF_PKG_CONFIG_FAILED,$($(_armhf_pkg_var))),\
    $(error armhf pkg-config $1 $2 failed; is $(ARMHF_SYSROOT) built? (make $(ARMHF_SYSROOT_STAMP))))\
  $($(_armhf_pkg_var)))
armhf_pkg_cflags = $(call _armhf_pkg,--cflags,$1)
armhf_pkg_libs   = $(call _armhf_pkg,--libs,$1)

# Run armhf programs (unit tests) on the build machine. binfmt_misc is not
# mounted here, so qemu-arm is always called explicitly.
ARMHF_QEMU = qemu-arm -cpu cortex-a8 -L $(_armhf_root)

# ASan + UBSan work with Debian's cross gcc (libasan8-armhf-cross and
# libubsan1-armhf-cross come with gcc-arm-linux-gnueabihf) and run under
# qemu-arm, with two adjustments made by ARMHF_QEMU_SAN:
#  - libasan.so.8/libubsan.so.1 live in /usr/arm-linux-gnueabihf/lib, not in
#    the sysroot: LD_LIBRARY_PATH names it last (qemu maps guest paths to the
#    sysroot first and falls back to the host path).
#  - LeakSanitizer needs ptrace-like clone() that qemu-user refuses ("LeakSanitizer
#    has encountered a fatal error"), so detect_leaks=0. ASan reads its options
#    from /proc/self/environ, i.e. qemu's own environment: ASAN_OPTIONS must be
#    set for qemu-arm itself (as here), not with qemu's -E.
# Check leaks in the native build instead.
ARMHF_SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ARMHF_QEMU_SAN = env ASAN_OPTIONS=$(ASAN_OPTIONS)$(if $(ASAN_OPTIONS),:)detect_leaks=0 \
  UBSAN_OPTIONS=$(UBSAN_OPTIONS)$(if $(UBSAN_OPTIONS),:)print_stacktrace=1 \
  $(ARMHF_QEMU) -E LD_LIBRARY_PATH=/lib/$(ARMHF_TRIPLET):/usr/lib/$(ARMHF_TRIPLET):/usr/$(ARMHF_TRIPLET)/lib

# The sysroot: rebuilt when the script changes (the script itself is a no-op
# when its stamp is current). `make armhf-sysroot` re-checks the apt indexes.
$(ARMHF_SYSROOT_STAMP): $(ARMHF_TOOLCHAIN_DIR)/sysroot-armhf.sh
	$(ARMHF_TOOLCHAIN_DIR)/sysroot-armhf.sh $(ARMHF_SYSROOT)

.PHONY: armhf-sysroot
armhf-sysroot:
	$(ARMHF_TOOLCHAIN_DIR)/sysroot-armhf.sh $(ARMHF_SYSROOT)

# Including this file must not change the includer's default goal.
.DEFAULT_GOAL := $(_armhf_default_goal)
