# Runs at install time (`cmake --install`, cpack), included by the install
# rules in CMakeLists.txt, which set TSWATCHDOG_SOURCE_DIR,
# TSWATCHDOG_BINARY_DIR, TSWATCHDOG_SBINDIR, TSWATCHDOG_SYSCONFDIR,
# TSWATCHDOG_DOCDIR and TSWATCHDOG_UNIT_DIR (empty: no systemd unit) first.
#
# The prefix is the one of this install, not the configured one:
# `cmake --install build --prefix /usr` and cpack (which installs with
# CMAKE_INSTALL_PREFIX=/usr and DESTDIR=its staging directory) change it
# after configuration. So the unit's ExecStart=, its --config path, the unit
# directory and the config's place are all computed here, from one prefix.

# DIR relative to the prefix unless it is absolute, as GNUInstallDirs does.
function(tsw_full_dir out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

tsw_full_dir(CMAKE_INSTALL_FULL_SBINDIR "${TSWATCHDOG_SBINDIR}")
tsw_full_dir(CMAKE_INSTALL_FULL_DOCDIR "${TSWATCHDOG_DOCDIR}")
# GNUInstallDirs' special cases for sysconfdir: the prefix /usr keeps its
# config in /etc, /opt/NAME in /etc/opt/NAME.
if(NOT IS_ABSOLUTE "${TSWATCHDOG_SYSCONFDIR}" AND
   TSWATCHDOG_SYSCONFDIR STREQUAL "etc" AND
   CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$")
  set(CMAKE_INSTALL_FULL_SYSCONFDIR "/etc")
elseif(NOT IS_ABSOLUTE "${TSWATCHDOG_SYSCONFDIR}" AND
       TSWATCHDOG_SYSCONFDIR STREQUAL "etc" AND
       CMAKE_INSTALL_PREFIX MATCHES "^/opt/")
  set(CMAKE_INSTALL_FULL_SYSCONFDIR "/etc${CMAKE_INSTALL_PREFIX}")
else()
  tsw_full_dir(CMAKE_INSTALL_FULL_SYSCONFDIR "${TSWATCHDOG_SYSCONFDIR}")
endif()

# The default config, never over an operator's edited one (file(INSTALL)
# adds DESTDIR itself; EXISTS needs it spelled out).
set(config_dir "${CMAKE_INSTALL_FULL_SYSCONFDIR}/tswatchdog")
if(EXISTS "$ENV{DESTDIR}${config_dir}/tswatchdog.toml")
  message(STATUS "Keeping existing: $ENV{DESTDIR}${config_dir}/tswatchdog.toml")
else()
  file(INSTALL "${TSWATCHDOG_SOURCE_DIR}/contrib/tswatchdog.toml"
       DESTINATION "${config_dir}")
endif()

if(NOT TSWATCHDOG_UNIT_DIR STREQUAL "")
  tsw_full_dir(unit_dir "${TSWATCHDOG_UNIT_DIR}")
  set(unit "${TSWATCHDOG_BINARY_DIR}/install-unit/tswatchdog.service")
  configure_file("${TSWATCHDOG_SOURCE_DIR}/contrib/systemd/tswatchdog.service.in"
                 "${unit}" @ONLY)
  file(INSTALL "${unit}" DESTINATION "${unit_dir}")
endif()
