#!/usr/bin/env bash
# The systemd lab: a Debian 12 rootfs (mmdebstrap minbase + packages.txt,
# cached between runs) booted with `systemd-nspawn -b`, its systemd driven
# through nsenter into the container's PID 1.
#
# A library (run_case.sh sources it) and a command line for a person:
#   lab.sh rootfs             build the cached rootfs if missing; print its path
#   lab.sh up DIR [NAME]      boot a container whose state lives in DIR
#   lab.sh exec DIR CMD...    run CMD inside it
#   lab.sh down DIR           power it off and remove everything it left
# `up` leaves the container running with the lab's units (see files/) but no
# tswatchdog: `lab.sh exec DIR dpkg -i /lab/tswatchdog.deb` installs the
# package that TSWATCHDOG_LAB_DEB names, if it named one.
# TSWATCHDOG_LAB_NSPAWN_ARGS: more systemd-nspawn options, split on spaces
# (e.g. --network-veth for a host-side link into the container).
#
# Why nspawn is started the way it is, on a host whose PID 1 is not systemd:
#   --register=no --keep-unit  there is no systemd/machined on the host to
#                              register with or to ask for a scope; without
#                              them nspawn fails on D-Bus. So no machinectl,
#                              no `systemd-run -M`: we enter with nsenter.
#   --private-network          a network namespace of its own (nspawn keeps
#                              CAP_NET_ADMIN in it). The kernel here has veth
#                              but no dummy interfaces, so files/lab-net
#                              builds the uplink and tailscale0 from veths.
#   --console=read-only        no tty on stdin; the console goes to a file.
# The root is an overlay of the cached rootfs (read-only lower layer) and an
# upper directory in DIR, mounted in a private mount namespace that dies
# with nspawn: every container starts from the pristine rootfs, and no
# mount can outlive the run. Each container also runs in a cgroup of its
# own (hybrid cgroups here: name=systemd v1 + an empty v2 "unified"), so
# parallel containers never share nspawn's payload/ and supervisor/
# cgroups, and `down` removes them (nspawn leaves them, and
# /run/systemd/nspawn, behind).
set -o pipefail

LAB_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_CACHE=${TSWATCHDOG_LAB_CACHE:-/var/cache/tswatchdog-systemd-lab}
LAB_SUITE=bookworm
LAB_BOOT_TIMEOUT=${TSWATCHDOG_LAB_BOOT_TIMEOUT:-120}

lab_log() { echo "lab: $*" >&2; }

# Why this host cannot run the lab, or nothing.
lab_unusable() {
  if [[ $(id -u) -ne 0 ]]; then echo "needs root"; return; fi
  local tool
  for tool in systemd-nspawn mmdebstrap nsenter unshare flock; do
    command -v "$tool" >/dev/null || { echo "$tool not installed"; return; }
  done
  grep -qw overlay /proc/filesystems || echo "no overlayfs in this kernel"
}

# Installs what the lab needs (Debian 12, as root).
lab_install_tools() {
  local missing=() pkg
  for pkg in systemd-container mmdebstrap; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  lab_log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
}

lab_packages() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$LAB_SRC_DIR/packages.txt"; }

# The cached rootfs for packages.txt (built once, ~1-3 min; ~230 MB).
# Prints its path. Versions for other package lists stay while they are in
# use (another checkout may boot them right now); unused for a week, they
# are removed.
lab_rootfs() {
  local key root lock_fd
  key=$({ echo "suite=$LAB_SUITE variant=minbase"; lab_packages; } | sha256sum | cut -c1-16)
  root=$LAB_CACHE/rootfs-$key
  mkdir -p "$LAB_CACHE" || return 1
  exec {lock_fd}>"$LAB_CACHE/lock"
  flock "$lock_fd"
  local old
  for old in "$LAB_CACHE"/rootfs-*; do
    [[ -d $old && $old != "$root" ]] || continue
    [[ -n $(find "$old" -maxdepth 0 -mmin -$((7 * 24 * 60))) ]] || rm -rf "$old"
  done
  if [[ ! -e $root/.complete ]]; then
    rm -rf "$root.tmp"
    lab_log "building the rootfs $root (mmdebstrap, once)"
    if ! mmdebstrap --variant=minbase --include="$(lab_packages | paste -sd,)" \
      "$LAB_SUITE" "$root.tmp" >"$LAB_CACHE/mmdebstrap.log" 2>&1; then
      lab_log "mmdebstrap failed; see $LAB_CACHE/mmdebstrap.log"
      tail -n 20 "$LAB_CACHE/mmdebstrap.log" >&2
      rm -rf "$root.tmp"
      exec {lock_fd}>&-
      return 1
    fi
    # The containers get their own machine id at each boot.
    : >"$root.tmp/etc/machine-id"
    touch "$root.tmp/.complete"
    mv "$root.tmp" "$root"
  fi
  touch "$root"  # last used
  exec {lock_fd}>&-
  echo "$root"
}

# --- one container, its state in a directory ------------------------------
# DIR/root: the overlay mount point; DIR/upper, DIR/work: overlay layers;
# DIR/nspawn.pid; DIR/console.log; DIR/name: the machine name; DIR/cgroup:
# the name of its cgroups.

lab_nspawn_pid() {
  local dir=$1 pid
  [[ -s $dir/nspawn.pid ]] || return 1
  pid=$(<"$dir/nspawn.pid")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Host PID of the container's systemd: nspawn's only child.
lab_leader() {
  local pid child
  pid=$(lab_nspawn_pid "$1") || return 1
  child=$(awk '{print $1}' "/proc/$pid/task/$pid/children" 2>/dev/null)
  [[ -n $child ]] && echo "$child"
}

# The container's root as the host sees it (through nspawn's mount namespace).
lab_root() {
  local pid
  pid=$(lab_nspawn_pid "$1") || return 1
  echo "/proc/$pid/root$(cd "$1" && pwd)/root"
}

# Runs a command in all of the container's namespaces, with a clean
# environment.
lab_exec() {
  local dir=$1 leader
  shift
  leader=$(lab_leader "$dir") || { lab_log "container in $dir is not running"; return 125; }
  nsenter -t "$leader" -a env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 LANG=C.UTF-8 "$@"
}

lab_cgroup_dirs() {  # the cgroup directories of the container in DIR
  local name
  name=$(cat "$1/cgroup" 2>/dev/null) || return 0
  [[ -n $name ]] || return 0
  echo "/sys/fs/cgroup/systemd/$name"
  [[ -d /sys/fs/cgroup/unified ]] && echo "/sys/fs/cgroup/unified/$name"
}

# Copies the lab's files into the stopped container's root ($1): the fake
# tailscaled as tailscaled.service, the lab network, and the package.
lab_provision() {
  local root=$1 name=$2 fake=${TSWATCHDOG_LAB_FAKE:-} deb=${TSWATCHDOG_LAB_DEB:-}
  echo "$name" >"$root/etc/hostname"
  cp -r "$LAB_SRC_DIR/files/." "$root/"
  chmod 0755 "$root/usr/local/sbin/"lab-*
  mkdir -p "$root/lab"
  if [[ -n $fake ]]; then install -m 0755 "$fake" "$root/usr/local/bin/fake_tailscaled"; fi
  if [[ -n $deb ]]; then install -m 0644 "$deb" "$root/lab/tswatchdog.deb"; fi
  local wants
  for wants in sysinit.target.wants/lab-net.service multi-user.target.wants/tailscaled.service \
    network-online.target.wants/lab-net-wait-online.service; do
    mkdir -p "$root/etc/systemd/system/${wants%/*}"
    ln -sf "/etc/systemd/system/${wants#*/}" "$root/etc/systemd/system/$wants"
  done
}

# Boots a container; returns once its systemd reports running (or degraded).
lab_up() {
  local dir=$1 name=${2:-tswlab$$} rootfs why
  why=$(lab_unusable)
  if [[ -n $why ]]; then lab_log "cannot run: $why"; return 77; fi
  lab_sweep
  rootfs=$(lab_rootfs) || return 1
  mkdir -p "$dir/upper" "$dir/work" "$dir/root" || return 1
  dir=$(cd "$dir" && pwd)
  local cgroup="tswatchdog-lab-$name-$$"
  echo "$cgroup" >"$dir/cgroup"
  echo "$name" >"$dir/name"
  # A subshell moves itself into the container's cgroups, then becomes a
  # private mount namespace holding the overlay, then nspawn.
  (
    local cg
    for cg in $(lab_cgroup_dirs "$dir"); do
      mkdir -p "$cg" && echo "$BASHPID" >"$cg/cgroup.procs" || exit 1
    done
    exec unshare -m --propagation private bash -c '
      set -e
      rootfs=$1 dir=$2 src=$3 name=$4
      shift 4
      mount -t overlay tswatchdog-lab -o "lowerdir=$rootfs,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
      source "$src/lab.sh"
      lab_provision "$dir/root" "$name"
      exec systemd-nspawn -D "$dir/root" --machine="$name" --register=no --keep-unit \
        --private-network --console=read-only "$@" -b' \
      lab "$rootfs" "$dir" "$LAB_SRC_DIR" "$name" ${TSWATCHDOG_LAB_NSPAWN_ARGS:-}
  ) </dev/null >"$dir/console.log" 2>&1 &
  echo $! >"$dir/nspawn.pid"
  local deadline=$((SECONDS + LAB_BOOT_TIMEOUT)) state=
  until lab_leader "$dir" >/dev/null; do
    if ! lab_nspawn_pid "$dir" >/dev/null || ((SECONDS > deadline)); then
      lab_log "nspawn did not start; console:"
      tail -n 20 "$dir/console.log" >&2
      return 1
    fi
    sleep 0.05
  done
  # is-system-running --wait needs the bus socket; it exists soon after
  # PID 1 starts.
  while ((SECONDS <= deadline)); do
    state=$(lab_exec "$dir" timeout "$((deadline - SECONDS + 1))" \
      systemctl is-system-running --wait 2>/dev/null)
    case $state in running | degraded) break ;; esac
    lab_nspawn_pid "$dir" >/dev/null || break
    sleep 0.1
  done
  case $state in
    running) return 0 ;;
    degraded)
      lab_log "container $name booted degraded:"
      lab_exec "$dir" systemctl --failed --no-pager >&2
      return 0 ;;
  esac
  lab_log "container $name did not boot (state '$state'); console:"
  tail -n 30 "$dir/console.log" >&2
  return 1
}

# SIGKILLs every process left in a container's cgroups (its PID 1 first:
# that ends its PID namespace). nspawn killed by a signal leaves the
# container's systemd running; this is what ends it.
lab_kill_cgroup() {
  local cg=$1 pids deadline=$((SECONDS + 10))
  while [[ -d $cg ]]; do
    pids=$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086  # one PID a word
    kill -KILL $pids 2>/dev/null
    ((SECONDS < deadline)) || { lab_log "processes left in $cg: $pids"; return 1; }
    sleep 0.05
  done
}

# Containers of lab runs that died without `down` (their cgroup names end in
# the PID of the shell that booted them): killed and removed.
lab_sweep() {
  local cg pid
  for cg in /sys/fs/cgroup/systemd/tswatchdog-lab-*; do
    [[ -d $cg ]] || continue
    pid=${cg##*-}
    kill -0 "$pid" 2>/dev/null && continue
    lab_log "removing the container of a lab run that is gone: ${cg##*/}"
    lab_kill_cgroup "$cg"
    find "$cg" "/sys/fs/cgroup/unified/${cg##*/}" -depth -type d -exec rmdir {} + 2>/dev/null
  done
}

# Powers the container off (SIGKILL after 30 s) and removes its cgroups and
# nspawn's leftovers in /run/systemd/nspawn; DIR stays (lab_up boots it
# again with the same disk state: a reboot).
lab_stop() {
  local dir=$1 pid name
  [[ -d $dir ]] || return 0
  if pid=$(lab_nspawn_pid "$dir"); then
    lab_exec "$dir" systemctl poweroff --no-block >/dev/null 2>&1 || kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      lab_log "poweroff timed out; SIGKILL nspawn $pid"
      kill -KILL "$pid"
      while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    fi
  fi
  local cg
  for cg in $(lab_cgroup_dirs "$dir"); do
    lab_kill_cgroup "$cg"
    # Innermost first; rmdir fails on a busy cgroup, which then stays.
    [[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    [[ -d $cg ]] && lab_log "cgroup $cg still busy"
  done
  name=$(cat "$dir/name" 2>/dev/null || true)
  # An nspawn killed by a signal leaves its image lock behind; nobody holds
  # a stale one.
  local lock
  for lock in /run/systemd/nspawn/locks/inode-*; do
    [[ -e $lock ]] && flock -n -x "$lock" true 2>/dev/null && rm -f "$lock"
  done
  # nspawn does not remove these itself when the host's /run is no tmpfs.
  if [[ -n $name ]]; then
    rm -rf "/run/systemd/nspawn/propagate/$name" "/run/systemd/nspawn/unix-export/$name"
  fi
  rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/unix-export \
    /run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null
  rm -f "$dir/nspawn.pid"
  return 0
}

# lab_stop, then DIR is removed.
lab_down() {
  lab_stop "$1"
  rm -rf "$1"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    rootfs) lab_install_tools && lab_rootfs ;;
    up) shift; lab_install_tools && lab_up "$@" ;;
    exec) shift; dir=$1; shift; lab_exec "$dir" "$@" ;;
    down) shift; lab_down "$1" ;;
    *) echo "usage: $0 rootfs | up DIR [NAME] | exec DIR CMD... | down DIR" >&2; exit 2 ;;
  esac
fi
