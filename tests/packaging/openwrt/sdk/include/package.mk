# Test stand-in for include/package.mk: no build, only printing. Download
# records each extra download's fields; BuildPackage prints the package's
# definition and its expanded recipes, one "key: value" line or block each.
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
PKG_INSTALL_DIR ?= $(PKG_BUILD_DIR)/ipkg-install

Build/Prepare/Default = : prepare-default

define Download
$(info download $(1):$(foreach f,URL URL_FILE FILE HASH,$(eval $(Download/$(1)))$(if $($(f)), $(f)=$($(f))))$(eval URL:=)$(eval URL_FILE:=)$(eval FILE:=)$(eval HASH:=))
endef

define BuildPackage
$(eval $(Package/$(1)))
$(info depends: $(DEPENDS))
$(info build_depends: $(PKG_BUILD_DEPENDS))
$(info cmake_options: $(strip $(CMAKE_OPTIONS)))
$(info --- prepare)
$(info $(Build/Prepare))
$(info --- install)
$(info $(call Package/$(1)/install,/root))
$(info --- conffiles)
$(info $(Package/$(1)/conffiles))
$(info --- end)
endef

printed:
	@:
.DEFAULT_GOAL := printed
