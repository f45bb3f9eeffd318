# The Ansible role (contrib/ansible/roles/tswatchdog) on a Debian 12 host
# under systemd: ansible-playbook over SSH into the container, through a veth
# from this test's own network namespace (203.0.113.1 here, 203.0.113.2 in
# the container; documentation addresses, nothing leaves the two namespaces;
# not 192.0.2.0/24, which holds tswatchdog's probe address 192.0.2.1: the
# daemon would take the veth for its uplink).
# The case must run in a network namespace of its own: CMake runs it as
# `unshare -n run_case.sh ansible_role`. Sourced by run_case.sh.
# shellcheck shell=bash

ANSIBLE_DIR=$(cd "$here/../../contrib/ansible" && pwd)
SSH_OPTS=(-o BatchMode=yes -o UserKnownHostsFile=/dev/null
  -o StrictHostKeyChecking=no -o LogLevel=ERROR -o ConnectTimeout=5)

# ansible-playbook or ansible (ad hoc) against the container, with this
# case's key, inventory and temp directories; no SSH master left running.
ansible_env() {
  ANSIBLE_ROLES_PATH=$ANSIBLE_DIR/roles ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
    ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_PIPELINING=1 \
    ANSIBLE_SSH_ARGS="${SSH_OPTS[*]} -o ControlMaster=no" \
    ANSIBLE_LOCAL_TEMP=$LAB/ansible-tmp ANSIBLE_HOME=$LAB/ansible-home \
    ANSIBLE_RETRY_FILES_ENABLED=0 "$@"
}

# role_run LOG [ansible-playbook arguments]: the role's playbook; prints the
# host's PLAY RECAP line ("ok=12 changed=0 unreachable=0 failed=0 ...").
role_run() {
  local log=$LAB/$1
  shift
  ansible_env ansible-playbook -i "$LAB/inventory.ini" "$LAB/site.yml" "$@" >"$log" 2>&1
  local rc=$?
  sed -n 's/^tswlab *: //p' "$log"
  ((rc == 0)) || { echo "ansible-playbook exited $rc:"; tail -n 40 "$log"; } >&2
  return $rc
}

recap_count() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }

# The veth, sshd with this case's key, and the units doctor has something to
# say about: a socket and a service on the Tailscale address (100.64.0.1,
# which the lab's tailscaled gives tailscale0).
ansible_lab_setup() {
  command -v ansible-playbook >/dev/null ||
    skip "ansible-playbook not installed (scripts/deps.sh: ansible-core)"
  [[ $(readlink /proc/self/ns/net) != "$(readlink /proc/1/ns/net)" ]] ||
    skip "needs a network namespace of its own: unshare -n run_case.sh ansible_role"
  ct 'python3 -c "import apt"' 2>/dev/null ||
    skip "the lab's rootfs lacks python3 and python3-apt (tests/systemd/packages.txt)"
  ip link set lo up &&
    ip link add ctl0 type veth peer name ctl0-ct &&
    ip link set ctl0-ct netns "$(lab_leader "$LAB")" &&
    ip addr add 203.0.113.1/30 dev ctl0 && ip link set ctl0 up &&
    ct 'ip addr add 203.0.113.2/30 dev ctl0-ct && ip link set ctl0-ct up' ||
    { fail "the veth to the container"; return 1; }
  ssh-keygen -q -t ed25519 -N "" -C tswatchdog-lab -f "$LAB/ssh_key" || return 1
  ct 'install -d -m 0700 /root/.ssh && cat >/root/.ssh/authorized_keys &&
      systemctl start ssh.service' <"$LAB/ssh_key.pub"
  local end=$((SECONDS + 30))
  until ssh -i "$LAB/ssh_key" "${SSH_OPTS[@]}" root@203.0.113.2 true 2>/dev/null; do
    ((SECONDS < end)) || { fail "no SSH into the container"; return 1; }
    sleep 0.2
  done
  pass "SSH into the container over the veth"
  cat >"$LAB/inventory.ini" <<EOF
[lab]
tswlab ansible_host=203.0.113.2 ansible_user=root ansible_ssh_private_key_file=$LAB/ssh_key ansible_python_interpreter=/usr/bin/python3
EOF
  cat >"$LAB/site.yml" <<EOF
- name: Tswatchdog on the lab host
  hosts: lab
  vars:
    tswatchdog_deb: $TSWATCHDOG_LAB_DEB
    tswatchdog_debounce: "1s"
    tswatchdog_grace: "2s"
    tswatchdog_verify: "2s"
    tswatchdog_metrics_file: /var/lib/prometheus/node-exporter/tswatchdog.prom
    tswatchdog_metrics_interval: "5s"
  roles:
    - role: tswatchdog
EOF
  ct 'cat >/etc/systemd/system/lab-ts.socket <<EOF
[Unit]
Description=A socket on the Tailscale address (the role test)
[Socket]
ListenStream=100.64.0.1:2222
Accept=yes
[Install]
WantedBy=sockets.target
EOF
cat >/etc/systemd/system/lab-ts@.service <<EOF
[Service]
ExecStart=/bin/true
StandardInput=socket
EOF
cat >/etc/systemd/system/lab-ts-web.service <<EOF
[Unit]
Description=A service bound to the Tailscale address (the role test)
[Service]
Environment=LISTEN=100.64.0.1:8080
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload && systemctl enable -q --now lab-ts.socket lab-ts-web.service &&
mkdir -p /var/lib/prometheus/node-exporter' || { fail "the lab's units"; return 1; }
}

# The state the role leaves: package, config (with doctor's restart_on_ip),
# doctor's drop-ins in effect, the service running and writing its metrics.
ansible_installed_state() {
  check "package installed" 'dpkg-query -W -f="\${Status}" tswatchdog | grep -q "install ok installed"'
  check "config from the role's variables, doctor's unit in restart_on_ip" \
    'f=/etc/tswatchdog/tswatchdog.toml
     grep -qx "debounce = \"1s\"" $f && grep -qx "metrics_interval = \"5s\"" $f &&
     grep -qx "restart_on_ip = \[\"lab-ts-web.service\"\]" $f &&
     [ "$(grep -c " = " $f)" = 6 ]'
  check "tailscaled after network-online.target (doctor's drop-in, systemd reloaded)" \
    'systemctl show -p After tailscaled.service | grep -qw network-online.target &&
     systemctl show -p Wants tailscaled.service | grep -qw network-online.target'
  # doctor's fix for a socket is the drop-in and `systemctl start`, never a
  # restart (an Accept=no socket whose service runs refuses it and stays
  # stopped): a socket listening already keeps its bind, FreeBind=yes holds
  # from its next bind on (the boot race it is for).
  check "lab-ts.socket has FreeBind=yes and listens" \
    '[ "$(systemctl show -p FreeBind --value lab-ts.socket)" = yes ] &&
     systemctl is-active -q lab-ts.socket'
  check "tswatchdog.service enabled and active" \
    'systemctl is-enabled -q tswatchdog && systemctl is-active -q tswatchdog'
  expect_within 30 "tswatchdog healthy" 'tswatchdog status | grep -q "^state: *healthy"'
  expect_within 15 "the metrics file written outside /run (the role's ReadWritePaths= drop-in)" \
    'grep -q "^tswatchdog_state{state=\"healthy\"} 1" /var/lib/prometheus/node-exporter/tswatchdog.prom'
  check "doctor finds nothing the role applies" \
    '! tswatchdog doctor --json | grep -Eq "\"id\": \"(tailscaled-network-online|tailscale-address-unit)\""'
}

case_ansible_role() {
  ansible_lab_setup || return
  local recap

  # --check on a host without tswatchdog: succeeds, changes nothing.
  recap=$(role_run check-new.log --check --diff) &&
    pass "--check on a new host: $recap" || fail "--check on a new host"
  check "--check installed nothing, wrote nothing" \
    '! dpkg-query -W tswatchdog 2>/dev/null && [ ! -e /etc/tswatchdog ] &&
     [ ! -e /etc/systemd/system/tailscaled.service.d ] && [ ! -e /var/cache/tswatchdog ]'

  recap=$(role_run first.log) || { fail "first run"; return; }
  [[ $(recap_count changed "$recap") -gt 0 ]] && pass "first run: $recap" ||
    fail "first run changed nothing: $recap"
  grep -q "not applied by the role" "$LAB/first.log" &&
    echo "note: $(grep -A3 "not applied by the role" "$LAB/first.log" | tr -s ' \n' ' ')"
  ansible_installed_state

  recap=$(role_run second.log) || fail "second run"
  [[ $(recap_count changed "$recap") == 0 ]] && pass "a second run changes nothing: $recap" ||
    fail "the second run changed something: $recap; $(grep -B2 '^changed:' "$LAB/second.log" | head -20)"
  recap=$(role_run check-again.log --check --diff) || fail "--check after the run"
  [[ $(recap_count changed "$recap") == 0 ]] && pass "--check after the run: nothing to change" ||
    fail "--check after the run would change: $recap"

  # A changed variable: the file changes and the handler reloads the daemon
  # (SIGHUP, same process), not a restart.
  local pid cursor
  pid=$(main_pid)
  cursor=$(journal_cursor)
  recap=$(role_run change.log -e tswatchdog_debounce=3s) || fail "run with a changed variable"
  [[ $(recap_count changed "$recap") == 2 ]] && pass "changed variable: the config and the reload ($recap)" ||
    fail "changed variable: $recap"
  check "debounce = 3s in the file" 'grep -qx "debounce = \"3s\"" /etc/tswatchdog/tswatchdog.toml'
  expect_within 10 "tswatchdog reloaded its config (SIGHUP)" \
    "journalctl --after-cursor='$cursor' -o cat -u tswatchdog | grep -q 'SIGHUP: config reloaded'"
  [[ $(main_pid) == "$pid" ]] && pass "same process (reloaded, not restarted)" ||
    fail "tswatchdog was restarted: pid $pid -> $(main_pid)"

  ansible_fleet_view
}

# README "Fleet": `tswatchdog status --json` across an inventory, ad hoc.
ansible_fleet_view() {
  local out
  out=$(ansible_env ansible lab -i "$LAB/inventory.ini" -m ansible.builtin.command \
    -a 'tswatchdog status --json' 2>&1)
  echo "fleet view:"$'\n'"$out"
  [[ $out == "tswlab | CHANGED | rc=0 >>"$'\n{'*'"state": "healthy"'* ]] &&
    pass "ansible ad hoc: tswatchdog status --json" || fail "ansible ad hoc status: $out"
  command -v jq >/dev/null || { echo "note: no jq, the table one-liner not run"; return; }
  mkdir -p "$LAB/tree"
  ansible_env ansible lab -i "$LAB/inventory.ini" -m ansible.builtin.command \
    -a 'tswatchdog status --json' -t "$LAB/tree" >/dev/null 2>&1
  out=$(jq -r -f "$ANSIBLE_DIR/fleet-status.jq" "$LAB/tree"/*)
  echo "fleet view (table):"$'\n'"$out"
  [[ $out == tswlab$'\t'healthy$'\t'healthy$'\t'wan0$'\t'"0 recoveries"$'\t'running ]] &&
    pass "the fleet table" || fail "the fleet table: $out"
  # A host without a state file: the table says so, with status's error.
  ct 'systemctl stop tswatchdog; rm -f /run/tswatchdog/state.json'
  rm -f "$LAB/tree"/*
  ansible_env ansible lab -i "$LAB/inventory.ini" -m ansible.builtin.command \
    -a 'tswatchdog status --json' -t "$LAB/tree" >/dev/null 2>&1
  out=$(jq -r -f "$ANSIBLE_DIR/fleet-status.jq" "$LAB/tree"/*)
  echo "fleet view (table, tswatchdog stopped, no state file):"$'\n'"$out"
  [[ $out == tswlab$'\t'unknown$'\t'"tswatchdog status: "*"running?)" ]] &&
    pass "the fleet table without a state file" || fail "the fleet table without a state file: $out"
}
