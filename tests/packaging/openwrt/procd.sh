# Test stand-in for OpenWrt's /lib/functions/procd.sh: instead of building a
# JSON message for procd over ubus, it prints what it was given, one line
# per call, each argument in brackets so argv boundaries are visible:
#   open_instance
#   command [/usr/sbin/tswatchdog] [run] [--socket] [/var/run/...]
#   param respawn
#   close_instance
# The command is printed when the instance is closed, after
# procd_set_param/procd_append_param have built it.

_procd_words() {
	local out="$1"
	shift
	for word in "$@"; do
		out="$out [$word]"
	done
	echo "$out"
}

procd_open_service() {
	echo "open_service $1"
}

procd_close_service() {
	service_triggers
	echo "close_service"
}

procd_open_instance() {
	_procd_instance_open=1
	_procd_command=""
	_procd_params=""
	echo "open_instance${1:+ $1}"
}

procd_set_param() {
	local type="$1"
	shift
	[ -n "$_procd_instance_open" ] || echo "ERROR: procd_set_param outside an instance"
	if [ "$type" = command ]; then
		_procd_command="$(_procd_words command "$@")"
	else
		_procd_params="$_procd_params$(_procd_words "param $type" "$@")
"
	fi
}

procd_append_param() {
	local type="$1"
	shift
	[ -n "$_procd_instance_open" ] || echo "ERROR: procd_append_param outside an instance"
	if [ "$type" = command ]; then
		_procd_command="$(_procd_words "${_procd_command:-command}" "$@")"
	else
		_procd_params="$_procd_params$(_procd_words "param+ $type" "$@")
"
	fi
}

procd_close_instance() {
	echo "$_procd_command"
	printf '%s' "$_procd_params"
	echo "close_instance"
	_procd_instance_open=""
}

procd_add_reload_trigger() {
	echo "reload_trigger $*"
}

procd_kill() {
	echo "kill $1${2:+ $2}"
}
