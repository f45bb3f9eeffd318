# armhf (32-bit ARMv7, hard float) with Debian's g++-arm-linux-gnueabihf; see
# debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR arm)
set(TSWATCHDOG_CROSS_TRIPLET arm-linux-gnueabihf)
set(TSWATCHDOG_QEMU_ARCH arm)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
