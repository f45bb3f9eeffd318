# Cross-compiling with Debian's cross compilers (g++-<triplet>) against a
# sysroot of the target's Debian packages, unpacked by scripts/cross.sh.
# Included by the per-architecture files beside this one, which set
# TSWATCHDOG_CROSS_TRIPLET and CMAKE_SYSTEM_PROCESSOR. Needs
# -DTSWATCHDOG_SYSROOT=DIR (an absolute path).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${TSWATCHDOG_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${TSWATCHDOG_CROSS_TRIPLET}-g++)

# try_compile() projects re-read this file: hand them the sysroot too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TSWATCHDOG_SYSROOT)
if(NOT TSWATCHDOG_SYSROOT)
  message(FATAL_ERROR "Set -DTSWATCHDOG_SYSROOT=DIR (scripts/cross.sh makes one)")
endif()

# The compiler's own glibc and libstdc++ (/usr/<triplet>) come first; every
# other header, library, CMake package config and .pc file comes from the
# sysroot, never from the host's /usr.
set(CMAKE_SYSROOT ${TSWATCHDOG_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_LIBDIR}
    "${CMAKE_SYSROOT}/usr/lib/${TSWATCHDOG_CROSS_TRIPLET}/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${CMAKE_SYSROOT})
set(ENV{PKG_CONFIG_PATH} "")

# Test binaries run under qemu-user (gtest_discover_tests lists them at build
# time); -L makes the target's dynamic loader and libraries come from the
# sysroot.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-${TSWATCHDOG_QEMU_ARCH} -L ${CMAKE_SYSROOT})
