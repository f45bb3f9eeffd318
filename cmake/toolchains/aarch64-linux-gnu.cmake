# arm64 (aarch64) with Debian's g++-aarch64-linux-gnu; see debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(TSWATCHDOG_CROSS_TRIPLET aarch64-linux-gnu)
set(TSWATCHDOG_QEMU_ARCH aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
