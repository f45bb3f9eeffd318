# mipsel (32-bit little-endian MIPS) with Debian's g++-mipsel-linux-gnu; see
# debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR mipsel)
set(TSWATCHDOG_CROSS_TRIPLET mipsel-linux-gnu)
set(TSWATCHDOG_QEMU_ARCH mipsel)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
