# The .deb as dpkg handles it: install, reinstall and upgrade with an edited
# config, remove, purge. Sourced by run_case.sh.
# shellcheck shell=bash

case_package_lifecycle() {
  install_package || return
  check "binary and unit under /usr, config in /etc" \
    'test -x /usr/sbin/tswatchdog && test -f /usr/lib/systemd/system/tswatchdog.service &&
     test -f /etc/tswatchdog/tswatchdog.toml && ! test -e /usr/local/sbin/tswatchdog'
  check "ExecStart= runs the installed binary on the installed config" \
    'systemctl show -p ExecStart --value tswatchdog |
       grep -q "argv\[\]=/usr/sbin/tswatchdog run --config /etc/tswatchdog/tswatchdog.toml "'
  check "the config is a conffile" \
    'dpkg-query -W -f="\${Conffiles}\n" tswatchdog | grep -q "^ /etc/tswatchdog/tswatchdog.toml "'
  check "installing enables and starts nothing" \
    '! systemctl is-enabled -q tswatchdog && ! systemctl is-active -q tswatchdog'
  ct 'systemctl enable -q --now tswatchdog'
  ct 'echo "grace = \"45s\"" >>/etc/tswatchdog/tswatchdog.toml'

  check "reinstalling the same package keeps the edited config" \
    'dpkg -i /lab/tswatchdog.deb </dev/null >/dev/null 2>&1 &&
     grep -q "^grace = \"45s\"$" /etc/tswatchdog/tswatchdog.toml'

  # An upgrade: the same package as version <version>+lab1.
  ct 'rm -rf /tmp/up && dpkg-deb -R /lab/tswatchdog.deb /tmp/up &&
      sed -i "s/^Version: .*/&+lab1/" /tmp/up/DEBIAN/control &&
      dpkg-deb -b /tmp/up /tmp/tswatchdog-up.deb >/dev/null'
  local pid
  pid=$(main_pid)
  check "the upgrade installs without a conffile question" \
    'timeout 60 dpkg -i /tmp/tswatchdog-up.deb </dev/null >/tmp/dpkg-up.log 2>&1'
  check "the upgrade keeps the edited config" \
    'grep -q "^grace = \"45s\"$" /etc/tswatchdog/tswatchdog.toml &&
     ! test -e /etc/tswatchdog/tswatchdog.toml.dpkg-new'
  check "the new version is installed" \
    'dpkg-query -W -f="\${Version}" tswatchdog | grep -q "+lab1$"'
  check "the running daemon was restarted on the new binary" \
    "systemctl is-active -q tswatchdog && [ \"\$(systemctl show -p MainPID --value tswatchdog)\" != $pid ]"
  check "still enabled" 'systemctl is-enabled -q tswatchdog'

  ct 'dpkg -r tswatchdog >/tmp/dpkg-r.log 2>&1' || fail "dpkg -r"
  check "remove stopped the daemon" '! pgrep -x tswatchdog'
  check "remove took the binary and the unit" \
    '! test -e /usr/sbin/tswatchdog && ! test -e /usr/lib/systemd/system/tswatchdog.service'
  check "remove kept the edited config" 'grep -q "^grace = \"45s\"$" /etc/tswatchdog/tswatchdog.toml'
  check "dpkg keeps the package's config files" \
    'dpkg-query -W -f="\${Status}" tswatchdog | grep -q "deinstall ok config-files"'

  ct 'dpkg -P tswatchdog >/tmp/dpkg-p.log 2>&1' || fail "dpkg -P"
  check "purge removed the config and its directory" '! test -e /etc/tswatchdog'
  check "purge removed the state directory" '! test -e /run/tswatchdog'
  check "purge removed the enable link" \
    '! test -L /etc/systemd/system/multi-user.target.wants/tswatchdog.service'
  check "dpkg has forgotten the package" \
    '! dpkg-query -W -f="\${Status}" tswatchdog 2>/dev/null | grep -q installed'
}
