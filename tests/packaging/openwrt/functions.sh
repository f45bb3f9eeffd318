# Test stand-in for OpenWrt's /lib/functions.sh: the UCI part only, with the
# same variable layout (CONFIG_<section>_<option>, lists as _ITEMn/_LENGTH
# plus the space-joined value), so config_get on a list gives its items
# separated by spaces, as on a router.
#
# config_load NAME sources $UCI_CONFIG_DIR/NAME (default /etc/config): a UCI
# file is valid shell for the config/option/list functions below, which is
# how OpenWrt itself once read them. A missing file loads nothing.

CONFIG_SECTIONS=
CONFIG_NUM_SECTIONS=0
CONFIG_SECTION=

config_set() {
	eval "CONFIG_${1}_${2}=\$3"
}

config() {
	CONFIG_NUM_SECTIONS=$((CONFIG_NUM_SECTIONS + 1))
	CONFIG_SECTION="${2:-cfg$CONFIG_NUM_SECTIONS}"
	CONFIG_SECTIONS="${CONFIG_SECTIONS:+$CONFIG_SECTIONS }$CONFIG_SECTION"
	config_set "$CONFIG_SECTION" TYPE "$1"
}

option() {
	local name="$1"
	shift
	config_set "$CONFIG_SECTION" "$name" "$*"
}

list() {
	local name="$1" len joined
	shift
	eval "len=\${CONFIG_${CONFIG_SECTION}_${name}_LENGTH:-0}"
	len=$((len + 1))
	config_set "$CONFIG_SECTION" "${name}_ITEM$len" "$*"
	config_set "$CONFIG_SECTION" "${name}_LENGTH" "$len"
	eval "joined=\${CONFIG_${CONFIG_SECTION}_${name}}"
	config_set "$CONFIG_SECTION" "$name" "${joined:+$joined }$*"
}

package() {
	return 0
}

config_load() {
	local file="${UCI_CONFIG_DIR:-/etc/config}/$1"
	[ -f "$file" ] || return 1
	. "$file"
}

# config_get VAR SECTION OPTION [DEFAULT]: an empty value takes the default.
config_get() {
	eval "$1=\${CONFIG_${2}_${3}:-\$4}"
}

# config_get_bool VAR SECTION OPTION [DEFAULT]
config_get_bool() {
	local raw
	config_get raw "$2" "$3" "$4"
	case "$raw" in
	1 | on | true | yes | enabled) raw=1 ;;
	0 | off | false | no | disabled) raw=0 ;;
	*) raw="$4" ;;
	esac
	eval "$1=\$raw"
}

# config_list_foreach SECTION OPTION FUNCTION [ARGS...]: only for lists.
config_list_foreach() {
	local section="$1" name="$2" fn="$3" len i=1 item
	shift 3
	eval "len=\${CONFIG_${section}_${name}_LENGTH:-}"
	[ -n "$len" ] || return 0
	while [ "$i" -le "$len" ]; do
		eval "item=\${CONFIG_${section}_${name}_ITEM$i}"
		"$fn" "$item" "$@"
		i=$((i + 1))
	done
}
