# armhf (32-bit ARMv7, hard float) with Debian's g++-arm-linux-gnueabihf; see
# debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR arm)
set(TSWATCHDOG_CROSS_TRIPLET arm-linux-gnueabihf)
set(TSWATCHDOG_QEMU_ARCH arm)
# GCC notes, for every std::map iterator or pair passed by value, that the ARM
# calling convention for it changed in GCC 7.1 (-Wpsabi). Only code mixed with
# objects from GCC < 7.1 is affected; everything here is built with GCC 12.
set(CMAKE_CXX_FLAGS_INIT -Wno-psabi)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
