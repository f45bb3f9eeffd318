# Test stand-in for an OpenWrt buildroot's rules.mk: just the variables the
# package Makefile uses, with fixed fake paths, so that GNU make can parse the
# Makefile and print what its recipes expand to (see package.mk here).
INCLUDE_DIR:=$(TOPDIR)/include
BUILD_DIR:=/sdk/build_dir/target
STAGING_DIR:=/sdk/staging_dir/target
DL_DIR:=/sdk/dl
TAR:=tar
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_CONF:=install -m0600
INSTALL_DATA:=install -m0644
