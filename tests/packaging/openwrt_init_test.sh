#!/usr/bin/env bash
# OpenWrt package test: runs contrib/openwrt/tswatchdog/files/tswatchdog.init
# under busybox ash against stand-ins for /etc/rc.common, /lib/functions.sh
# and /lib/functions/procd.sh (tests/packaging/openwrt/), and asserts the
# exact procd instance (command line, params) produced from UCI files; runs
# the iface hotplug script with a stub `ubus`; syntax-checks every shipped
# shell file with sh -n and busybox ash -n; expands the Makefile with GNU
# make against a stand-in SDK and runs its install recipe into a temp root.
# With TSWATCHDOG_BINARY set (ctest sets it), the command
# lines built from UCI are also fed to the real daemon's --print-config.
#
# Usage: bash tests/packaging/openwrt_init_test.sh
set -u

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
pkg="$root/contrib/openwrt/tswatchdog"
init="$pkg/files/tswatchdog.init"
hotplug="$pkg/files/tswatchdog.hotplug"
standin="$here/openwrt"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
	failed=$((failed + 1))
	echo "FAIL $1"
	shift
	[ "$#" -gt 0 ] && printf '     %s\n' "$@"
}

if ! command -v busybox >/dev/null 2>&1; then
	fail "busybox is installed" "apt-get install busybox (scripts/deps.sh lists it)"
	echo "$passed passed, $failed failed"
	exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/config" "$tmp/init.d"
# The init script checks each command line with the daemon itself (run ...
# --print-config) before procd gets it: the real binary when ctest gives it,
# else a stand-in that accepts everything. Installed under its name on the
# router (procd's service name comes from it), with PROG pointing there.
prog="$tmp/bin/tswatchdog"
if [ -n "${TSWATCHDOG_BINARY:-}" ]; then
	ln -s "$TSWATCHDOG_BINARY" "$prog"
else
	printf '#!/bin/sh\nexit 0\n' >"$prog"
	chmod +x "$prog"
fi
sed "s#^PROG=/usr/sbin/tswatchdog\$#PROG=$prog#" "$init" >"$tmp/init.d/tswatchdog"
# Stubs: logger and ubus record their arguments instead of talking to syslog
# or procd.
cat >"$tmp/bin/logger" <<STUB
#!/bin/sh
echo "\$*" >>"$tmp/logger.log"
STUB
cat >"$tmp/bin/ubus" <<STUB
#!/bin/sh
echo "\$*" >>"$tmp/ubus.log"
STUB
chmod +x "$tmp/bin/logger" "$tmp/bin/ubus"

# write_uci CONTENT: /etc/config/tswatchdog for the next run ("-": none).
write_uci() {
	rm -f "$tmp/config/tswatchdog"
	[ "$1" = "-" ] || printf '%s\n' "$1" >"$tmp/config/tswatchdog"
}

# run_init ACTION: output in $out, stderr in $err, exit status in $status.
run_init() {
	rm -f "$tmp/logger.log"
	out="$(UCI_CONFIG_DIR="$tmp/config" PATH="$tmp/bin:$PATH" \
		busybox ash "$standin/rc.common" "$tmp/init.d/tswatchdog" "$1" 2>"$tmp/stderr")"
	status=$?
	err="$(cat "$tmp/stderr")"
}

# expect NAME EXPECTED ACTUAL
expect() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "--- expected" "$2" "--- got" "$3"
	fi
}

# instance ARGS...: the stand-in's output for one started instance.
instance() {
	local line="command"
	for word in "$@"; do line="$line [$word]"; done
	printf '%s\n' "open_service tswatchdog" "open_instance" "$line" \
		"param respawn" "param stdout [1]" "param stderr [1]" \
		"param term_timeout [10]" "close_instance" \
		"reload_trigger tswatchdog" "close_service"
}

no_instance="$(printf '%s\n' "open_service tswatchdog" \
	"reload_trigger tswatchdog" "close_service")"
# A refused configuration: the script exits before close_service, so procd
# is told nothing and a running instance stays as it is.
untold="open_service tswatchdog"

# argv_of OUTPUT: the instance's command, one argument per line.
argv_of() {
	sed -n 's/^command \[\(.*\)\]$/\1/p' <<<"$1" | sed 's/\] \[/\n/g'
}

# daemon_accepts NAME OUTPUT PATTERN...: with TSWATCHDOG_BINARY, the command
# line parses (--print-config exits 0) and the effective config has each
# PATTERN (a grep -F line).
daemon_accepts() {
	local name="$1" output="$2"
	shift 2
	[ -n "${TSWATCHDOG_BINARY:-}" ] || return 0
	local -a argv
	mapfile -t argv < <(argv_of "$output")
	local printed
	if ! printed="$("$TSWATCHDOG_BINARY" "${argv[@]:1}" --print-config 2>&1)"; then
		fail "$name: the daemon accepts the command line" "${argv[*]}" "$printed"
		return
	fi
	local pattern missing=()
	for pattern in "$@"; do
		grep -qxF -- "$pattern" <<<"$printed" || missing+=("$pattern")
	done
	if ((${#missing[@]})); then
		fail "$name: the daemon's effective config" "missing: ${missing[*]}"
	else
		pass "$name: the daemon accepts it (--print-config)"
	fi
}

defaults_argv=("$prog" run
	--socket /var/run/tailscale/tailscaled.sock
	--restart-command "/etc/init.d/tailscale restart"
	--state-file /var/run/tswatchdog/state.json --log-style syslog)

# --- The shipped UCI file ---------------------------------------------------
write_uci "$(cat "$pkg/files/tswatchdog.config")"
run_init start
expect "shipped config: OpenWrt defaults only" "$(instance "${defaults_argv[@]}")" "$out"
daemon_accepts "shipped config" "$out" \
	'socket = "/var/run/tailscale/tailscaled.sock"' \
	'restart_command = [ "/etc/init.d/tailscale", "restart" ]' \
	'state_file = "/var/run/tswatchdog/state.json"'

# --- No UCI file, and a section without options: the same defaults --------
write_uci -
run_init start
expect "no /etc/config/tswatchdog: defaults" "$(instance "${defaults_argv[@]}")" "$out"

write_uci "config tswatchdog 'main'"
run_init start
expect "empty section: defaults" "$(instance "${defaults_argv[@]}")" "$out"

# Empty values count as unset.
write_uci "config tswatchdog 'main'
	option socket ''
	option debounce ''
	option ladder ''"
run_init start
expect "empty options: defaults" "$(instance "${defaults_argv[@]}")" "$out"

# --- Every option set ------------------------------------------------------
write_uci "config tswatchdog 'main'
	option enabled '1'
	option socket '/tmp/ts.sock'
	option debounce '2s'
	option settle_max '30s'
	option grace '10s'
	option verify '5s'
	option unhealthy_after '1m'
	option start_timeout '2m'
	option kick_on_change '0'
	list ladder 'rebind'
	list ladder 'conntrack'
	list ladder 'start'
	list ladder 'restart'
	list restart_command '/usr/bin/my-restart'
	list restart_command '--hard'
	option max_disruptive_per_hour '0'
	option backoff_initial '5s'
	option backoff_max '5m'
	list restart_on_ip 'uhttpd'
	list restart_on_ip 'dropbear'
	option hooks_dir '/etc/tswatchdog/hooks.d'
	option state_file '/tmp/tsw/state.json'
	option metrics_file '/tmp/tsw/metrics.prom'
	option metrics_interval '15s'
	option dry_run 'yes'
	option log_level 'debug'
	option log_style 'plain'
	option tailscale_interface 'ts0'
	option mwan3_steering '0'
	option mwan3_flow_cleanup 'no'
	option debug '1'"
run_init start
expect "every option set" "$(instance "$prog" run \
	--socket /tmp/ts.sock --debounce 2s --settle-max 30s --grace 10s \
	--verify 5s --unhealthy-after 1m --start-timeout 2m \
	--kick-on-change=false --ladder rebind,conntrack,start,restart \
	--restart-command "/usr/bin/my-restart --hard" \
	--max-disruptive-per-hour 0 --backoff-initial 5s --backoff-max 5m \
	--restart-on-ip uhttpd,dropbear --hooks-dir /etc/tswatchdog/hooks.d \
	--state-file /tmp/tsw/state.json --metrics-file /tmp/tsw/metrics.prom \
	--metrics-interval 15s --dry-run=true --log-level debug --log-style plain --tailscale-interface ts0 \
	--mwan3-steering=false --mwan3-flow-cleanup=false \
	--debug)" "$out"
daemon_accepts "every option set" "$out" \
	'socket = "/tmp/ts.sock"' 'debounce = "2s"' 'settle_max = "30s"' \
	'grace = "10s"' 'verify = "5s"' 'unhealthy_after = "1m"' \
	'start_timeout = "2m"' 'kick_on_change = false' \
	'ladder = [ "rebind", "conntrack", "start", "restart" ]' \
	'restart_command = [ "/usr/bin/my-restart", "--hard" ]' \
	'max_disruptive_per_hour = 0' 'backoff_initial = "5s"' \
	'backoff_max = "5m"' 'restart_on_ip = [ "uhttpd", "dropbear" ]' \
	'hooks_dir = "/etc/tswatchdog/hooks.d"' \
	'state_file = "/tmp/tsw/state.json"' \
	'metrics_file = "/tmp/tsw/metrics.prom"' 'metrics_interval = "15s"' \
	'dry_run = true' \
	'log_level = "debug"' 'log_style = "plain"' 'tailscale_interface = "ts0"' \
	'mwan3_steering = false' 'mwan3_flow_cleanup = false'

# --- Lists written as plain options, and boolean spellings -----------------
write_uci "config tswatchdog 'main'
	option ladder 'rebind,start'
	option restart_command '/etc/init.d/tailscale restart'
	option restart_on_ip 'uhttpd'
	option kick_on_change 'on'
	option dry_run 'off'
	option debug '0'"
run_init start
expect "lists as plain options; on/off booleans" "$(instance "$prog" run \
	--socket /var/run/tailscale/tailscaled.sock --kick-on-change=true \
	--ladder rebind,start --restart-command "/etc/init.d/tailscale restart" \
	--restart-on-ip uhttpd --state-file /var/run/tswatchdog/state.json \
	--dry-run=false --log-style syslog)" "$out"
daemon_accepts "lists as plain options" "$out" \
	'ladder = [ "rebind", "start" ]' 'kick_on_change = true' \
	'restart_command = [ "/etc/init.d/tailscale", "restart" ]' \
	'restart_on_ip = [ "uhttpd" ]' 'dry_run = false'

write_uci "config tswatchdog 'main'
	list ladder 'start'"
run_init start
expect "one-item list" "$(instance "$prog" run \
	--socket /var/run/tailscale/tailscaled.sock --ladder start \
	--restart-command "/etc/init.d/tailscale restart" \
	--state-file /var/run/tswatchdog/state.json --log-style syslog)" "$out"

# --- Disabled, and refused configurations: no instance ---------------------
for value in 0 off no false disabled; do
	write_uci "config tswatchdog 'main'
	option enabled '$value'
	option debounce '2s'"
	run_init start
	expect "enabled '$value': nothing started" "$no_instance" "$out"
done

# --- restart_command items with spaces and quotes: quoted for the daemon --
# The UCI item is: /etc/init.d/tailscale restart && logger "it's up"
write_uci "config tswatchdog 'main'
	list restart_command '/bin/sh'
	list restart_command '-c'
	list restart_command '/etc/init.d/tailscale restart && logger \"it'\\''s up\"'
	list restart_command 'a\\b'"
run_init start
expect "restart_command items with spaces and quotes" "$(instance "$prog" run \
	--socket /var/run/tailscale/tailscaled.sock \
	--restart-command "/bin/sh -c '/etc/init.d/tailscale restart && logger \"it'\\''s up\"' 'a\\b'" \
	--state-file /var/run/tswatchdog/state.json --log-style syslog)" "$out"
daemon_accepts "restart_command items with spaces and quotes" "$out" \
	'restart_command = [ "/bin/sh", "-c", "/etc/init.d/tailscale restart && logger \"it'"'"'s up\"", "a\\b" ]'

# --- Refused configurations: procd is told nothing, the action fails --------
# A bad value on the config-change reload stopped the running daemon (procd
# got an empty instance list) and `reload` exited 0 (issue 13).
for action in start reload; do
	write_uci "config tswatchdog 'main'
	option dry_run 'maybe'"
	run_init "$action"
	expect "non-boolean dry_run, $action: procd is told nothing" "$untold" "$out"
	expect "non-boolean dry_run, $action: exits 1" 1 "$status"
	if [[ $err == *"option dry_run: 'maybe' is not a boolean"* ]] &&
		[[ "$(cat "$tmp/logger.log" 2>/dev/null)" == *"'maybe' is not a boolean"* ]]; then
		pass "non-boolean dry_run, $action: stderr and syslog name the option"
	else
		fail "non-boolean dry_run, $action: stderr and syslog name the option" "stderr: $err"
	fi
done
if [ -n "${TSWATCHDOG_BINARY:-}" ]; then
	# What only the daemon knows is bad: checked by the daemon, same outcome.
	for uci in "option debounce 'fast'" "list ladder 'reboot'" \
		"option restart_on_ip '../../../tmp/x'"; do
		write_uci "config tswatchdog 'main'
	$uci"
		run_init reload
		expect "$uci, reload: procd is told nothing" "$untold" "$out"
		expect "$uci, reload: exits 1" 1 "$status"
		if [[ $err == *"configuration refused"*"tswatchdog: --"* ]] &&
			[[ "$(cat "$tmp/logger.log" 2>/dev/null)" == *"configuration refused"* ]]; then
			pass "$uci, reload: the daemon's reason on stderr and in syslog"
		else
			fail "$uci, reload: the daemon's reason on stderr and in syslog" "stderr: $err"
		fi
	done
fi
if grep -q "cannot contain spaces" "$pkg/files/tswatchdog.config"; then
	fail "shipped config: no stale word on restart_command items with spaces"
else
	pass "shipped config: no stale word on restart_command items with spaces"
fi
if [ "$(grep -c '^PROG=/usr/sbin/tswatchdog$' "$init")" = 1 ]; then
	pass "init: PROG is /usr/sbin/tswatchdog"
else
	fail "init: PROG is /usr/sbin/tswatchdog"
fi

# --- Other actions -----------------------------------------------------------
write_uci "$(cat "$pkg/files/tswatchdog.config")"
run_init reload
expect "reload builds the same instance (procd restarts only on change)" \
	"$(instance "${defaults_argv[@]}")" "$out"
run_init stop
expect "stop kills the procd service" "kill tswatchdog" "$out"
run_init enable
expect "START after tailscale's 80, STOP before it" "enable S90 K10" "$out"

# --- Hotplug -------------------------------------------------------------------
# The script sources /lib/functions.sh; point that one line at the stand-in.
sed "s#^\. /lib/functions\.sh\$#. $standin/functions.sh#" "$hotplug" >"$tmp/hotplug"
if [ "$(grep -c "^\. $standin/functions.sh\$" "$tmp/hotplug")" = 1 ]; then
	pass "hotplug: sources /lib/functions.sh once"
else
	fail "hotplug: sources /lib/functions.sh once"
fi
usr1="$(busybox ash -c 'kill -l USR1')"
signal_call="call service signal {\"name\":\"tswatchdog\",\"signal\":$usr1}"

# hotplug_case NAME EXPECTED(signal|none) ACTION INTERFACE DEVICE
hotplug_case() {
	rm -f "$tmp/ubus.log"
	env -i PATH="$tmp/bin:$PATH" UCI_CONFIG_DIR="$tmp/config" \
		ACTION="$3" INTERFACE="$4" DEVICE="$5" busybox ash "$tmp/hotplug"
	local got="none"
	[ -f "$tmp/ubus.log" ] && got="$(cat "$tmp/ubus.log")"
	local want="none"
	[ "$2" = signal ] && want="$signal_call"
	expect "hotplug: $1" "$want" "$got"
}

write_uci "$(cat "$pkg/files/tswatchdog.config")"
hotplug_case "ifup wan -> SIGUSR1 via procd" signal ifup wan eth1
hotplug_case "ifdown wan -> SIGUSR1" signal ifdown wan eth1
hotplug_case "mwan3 connected -> SIGUSR1" signal connected wanb wwan0
hotplug_case "mwan3 disconnected -> SIGUSR1" signal disconnected wanb wwan0
hotplug_case "ifupdate ignored" none ifupdate wan eth1
hotplug_case "loopback ignored" none ifup loopback lo
hotplug_case "tailscale0 as a netifd interface ignored" none ifup tailscale tailscale0

write_uci "config tswatchdog 'main'
	option tailscale_interface 'ts0'
	list hotplug_interface 'wan'
	list hotplug_interface 'wanb'"
hotplug_case "configured tun ignored" none ifup tailscale ts0
hotplug_case "hotplug_interface: lan not listed" none ifup lan br-lan
hotplug_case "hotplug_interface: wanb listed" signal connected wanb wwan0

write_uci "config tswatchdog 'main'
	option hotplug '0'"
hotplug_case "hotplug '0': nothing" none ifup wan eth1
write_uci "config tswatchdog 'main'
	option enabled '0'"
hotplug_case "disabled: nothing" none ifup wan eth1

# --- Syntax of every shipped shell file ---------------------------------------
for file in "$init" "$hotplug" "$pkg/files/tswatchdog.config"; do
	name="${file#"$root"/}"
	if msg="$(sh -n "$file" 2>&1)"; then pass "sh -n $name"; else fail "sh -n $name" "$msg"; fi
	if msg="$(busybox ash -n "$file" 2>&1)"; then
		pass "busybox ash -n $name"
	else
		fail "busybox ash -n $name" "$msg"
	fi
done

# --- Makefile, expanded by GNU make against a stand-in SDK ---------------------
# tests/packaging/openwrt/sdk/ has a rules.mk, package.mk and cmake.mk that
# only define the variables used and print the package definition and its
# expanded recipes; the install recipe is then run into a temp root.
makefile="$pkg/Makefile"
if expanded="$(make -s -C "$pkg" -f Makefile TOPDIR="$standin/sdk" \
	BUILD_DIR="$tmp/build" 2>&1)"; then
	pass "Makefile: GNU make parses it"
else
	fail "Makefile: GNU make parses it" "$expanded"
fi
section() { sed -n "/^--- $1\$/,/^--- /p" <<<"$expanded" | sed '1d;$d'; }
expect "Makefile: runtime dependencies" \
	"depends: +libstdcpp +libmnl +libfmt +libnl-nf +kmod-nf-conntrack-netlink" \
	"$(grep '^depends:' <<<"$expanded")"
expect "Makefile: build-only dependency from the feed" "build_depends: spdlog" \
	"$(grep '^build_depends:' <<<"$expanded")"
for dep in cxxopts tomlplusplus nlohmann-json; do
	line="$(grep "^download $dep:" <<<"$expanded")"
	if [[ $line =~ \ URL=https://[^\ ]+ ]] && [[ $line =~ \ FILE=$dep-[0-9.]+\.tar\.(gz|xz) ]] &&
		[[ $line =~ \ HASH=[0-9a-f]{64}$ ]]; then
		pass "Makefile: fetches $dep (pinned URL, file, sha256)"
	else
		fail "Makefile: fetches $dep (pinned URL, file, sha256)" "$line"
	fi
	# Unpacked and installed in Build/Prepare, found by CMake there.
	if section prepare | grep -q "tar .*-xf .*/$dep-[0-9.]*\.tar" &&
		section prepare | grep -q "cmake --install .*/build/$dep\$"; then
		pass "Makefile: Build/Prepare unpacks and installs $dep"
	else
		fail "Makefile: Build/Prepare unpacks and installs $dep" "$(section prepare)"
	fi
done
prefix="$(section prepare | sed -n 's/.*-DCMAKE_INSTALL_PREFIX=\([^ ]*\).*/\1/p' | sort -u)"
options="$(grep '^cmake_options:' <<<"$expanded")"
if [ "$(wc -l <<<"$prefix")" = 1 ] && [ -n "$prefix" ] &&
	[[ $options == *"-Dcxxopts_DIR=$prefix/lib/cmake/cxxopts"* ]] &&
	[[ $options == *"-Dtomlplusplus_DIR=$prefix/lib/cmake/tomlplusplus"* ]] &&
	[[ $options == *"-Dnlohmann_json_DIR=$prefix/share/cmake/nlohmann_json"* ]] &&
	[[ $options == *"-DBUILD_TESTING=OFF"* ]]; then
	pass "Makefile: CMake finds the fetched libraries where Build/Prepare put them"
else
	fail "Makefile: CMake finds the fetched libraries where Build/Prepare put them" \
		"prefix: $prefix" "$options"
fi
expect "Makefile: conffiles" "/etc/config/tswatchdog" "$(section conffiles)"

# Run the install recipe: a fake binary where cmake's install step puts it.
mkdir -p "$tmp/build/tswatchdog-0.1.0/ipkg-install/usr/sbin" "$tmp/root"
printf '#!/bin/sh\n' >"$tmp/build/tswatchdog-0.1.0/ipkg-install/usr/sbin/tswatchdog"
if msg="$(cd "$pkg" && section install | sed "s# /root/# $tmp/root/#g" | bash -e 2>&1)"; then
	pass "Makefile: install recipe runs"
else
	fail "Makefile: install recipe runs" "$msg"
fi
for entry in "usr/sbin/tswatchdog 755" "etc/init.d/tswatchdog 755" \
	"etc/config/tswatchdog 600" "etc/hotplug.d/iface/50-tswatchdog 644"; do
	path="${entry% *}"
	mode="${entry#* }"
	got="$(stat -c %a "$tmp/root/$path" 2>/dev/null || echo missing)"
	expect "package: /$path (mode $mode)" "$mode" "$got"
done
cmp -s "$tmp/root/etc/init.d/tswatchdog" "$init" &&
	cmp -s "$tmp/root/etc/hotplug.d/iface/50-tswatchdog" "$hotplug" &&
	cmp -s "$tmp/root/etc/config/tswatchdog" "$pkg/files/tswatchdog.config" &&
	pass "package: init, hotplug and config are the files/ sources" ||
	fail "package: init, hotplug and config are the files/ sources"

# --- Makefile text -----------------------------------------------------------------
missing=()
while read -r src; do
	[ -f "$pkg/$src" ] || missing+=("$src")
done < <(grep -o '\./files/[A-Za-z0-9._-]*' "$makefile" | sort -u)
if ((${#missing[@]})); then
	fail "Makefile: every ./files source exists" "${missing[@]}"
else
	pass "Makefile: every ./files source exists"
fi
if grep -n '^ \+\$(' "$makefile"; then
	fail "Makefile: recipe lines start with a tab"
else
	pass "Makefile: recipe lines start with a tab"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
