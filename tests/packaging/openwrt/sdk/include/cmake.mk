# Test stand-in for include/cmake.mk: the compiler variables the package
# Makefile passes on.
CMAKE_C_COMPILER:=/sdk/toolchain/bin/target-gcc
CMAKE_CXX_COMPILER:=/sdk/toolchain/bin/target-g++
