#!/usr/bin/env bash
# The Ansible role's config template, on this machine (connection local, no
# host touched: it renders into a temp directory): every key the role knows
# is exactly tswatchdog's key list; every variable set renders to a file that
# `tswatchdog run --print-config` reads back as the same config as a TOML file
# written by hand; all variables left null render no key (the daemon's
# defaults); a second run changes nothing. Then ansible-lint on contrib/ansible.
# Usage: ansible_config_test.sh TSWATCHDOG_BINARY CONTRIB_ANSIBLE_DIR
# Exit 77 (skip) without ansible-playbook.
set -euo pipefail
tswatchdog=$(realpath "$1")
ansible_dir=$(cd "$2" && pwd)
if ! command -v ansible-playbook >/dev/null; then
  echo "SKIP: ansible-playbook not found (Debian: ansible-core; scripts/deps.sh)" >&2
  exit 77
fi
work=$(mktemp -d /tmp/tswatchdog-ansible-XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# The role's key list against the daemon's (order included).
role_keys=$(sed -n '/^tswatchdog_config_keys:/,/^[^ ]/s/^  - //p' \
  "$ansible_dir/roles/tswatchdog/vars/main.yml")
daemon_keys=$("$tswatchdog" run --config /dev/null --print-config | sed -n 's/^\([a-z_]*\) = .*/\1/p')
if [[ $role_keys == "$daemon_keys" ]]; then
  pass "the role knows every config key ($(wc -l <<<"$role_keys"))"
else
  fail "role keys differ from tswatchdog's: $(diff <(echo "$role_keys") <(echo "$daemon_keys") | tr '\n' ' ')"
fi
for key in $daemon_keys; do
  grep -q "^tswatchdog_$key: null" "$ansible_dir/roles/tswatchdog/defaults/main.yml" ||
    fail "defaults/main.yml has no 'tswatchdog_$key: null'"
done

# One playbook renders two files as the role does: every key set, and no
# key set. A third file, in a run of its own, gets a bad value.
cat >"$work/render.yml" <<YML
- name: Every key set
  hosts: localhost
  gather_facts: false
  vars_files: [$work/every.json]
  vars: {tswatchdog_config_path: $work/every.toml}
  tasks:
    - name: Render
      ansible.builtin.include_role: {name: tswatchdog, tasks_from: config.yml}
- name: No key set
  hosts: localhost
  gather_facts: false
  vars: {tswatchdog_config_path: $work/none.toml}
  tasks:
    - name: Render
      ansible.builtin.include_role: {name: tswatchdog, tasks_from: config.yml}
YML
cat >"$work/bad.yml" <<YML
- name: A bad value
  hosts: localhost
  gather_facts: false
  vars: {tswatchdog_config_path: $work/bad.toml, tswatchdog_debounce: fast}
  tasks:
    - name: Render
      ansible.builtin.include_role: {name: tswatchdog, tasks_from: config.yml}
YML
# render PLAYBOOK: the role's config task; prints ansible's recap.
render() {
  ANSIBLE_ROLES_PATH=$ansible_dir/roles ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=0 \
    ANSIBLE_INVENTORY_UNPARSED_WARNING=0 \
    ansible-playbook -i localhost, -c local "$1" -e "tswatchdog_binary=$tswatchdog" \
    -e '{"tswatchdog_service_enabled": false}' >"$work/ansible.log" 2>&1 ||
    { cat "$work/ansible.log"; return 1; }
  sed -n 's/^localhost *: //p' "$work/ansible.log"
}

# Every key set, none to its default; a string with a quote, a backslash and
# a non-ASCII letter.
cat >"$work/every.json" <<'JSON'
{
  "tswatchdog_socket": "/run/ts/tailscaled.sock",
  "tswatchdog_debounce": "2s",
  "tswatchdog_settle_max": "1m30s",
  "tswatchdog_grace": "0s",
  "tswatchdog_verify": "250ms",
  "tswatchdog_unhealthy_after": "2m",
  "tswatchdog_start_timeout": "1h",
  "tswatchdog_kick_on_change": false,
  "tswatchdog_ladder": ["rebind", "conntrack", "start", "reup", "restart"],
  "tswatchdog_restart_command": ["/bin/sh", "-c", "systemctl restart tailscaled && logger \"restarted\""],
  "tswatchdog_max_disruptive_per_hour": 0,
  "tswatchdog_backoff_initial": "1s",
  "tswatchdog_backoff_max": "5m",
  "tswatchdog_restart_on_ip": ["ssh.socket", "nginx.service"],
  "tswatchdog_hooks_dir": "/etc/tswatchdog/h\"ooks\\ é.d",
  "tswatchdog_state_file": "/var/lib/tswatchdog/state.json",
  "tswatchdog_metrics_file": "/var/lib/prometheus/node-exporter/tswatchdog.prom",
  "tswatchdog_metrics_interval": "15s",
  "tswatchdog_dry_run": true,
  "tswatchdog_log_level": "debug",
  "tswatchdog_log_style": "journal",
  "tswatchdog_tailscale_interface": "ts0"
}
JSON
cat >"$work/every-expected.toml" <<'TOML'
socket = "/run/ts/tailscaled.sock"
debounce = "2s"
settle_max = "1m30s"
grace = "0s"
verify = "250ms"
unhealthy_after = "2m"
start_timeout = "1h"
kick_on_change = false
ladder = ["rebind", "conntrack", "start", "reup", "restart"]
restart_command = ["/bin/sh", "-c", "systemctl restart tailscaled && logger \"restarted\""]
max_disruptive_per_hour = 0
backoff_initial = "1s"
backoff_max = "5m"
restart_on_ip = ["ssh.socket", "nginx.service"]
hooks_dir = '/etc/tswatchdog/h"ooks\ é.d'
state_file = "/var/lib/tswatchdog/state.json"
metrics_file = "/var/lib/prometheus/node-exporter/tswatchdog.prom"
metrics_interval = "15s"
dry_run = true
log_level = "debug"
log_style = "journal"
tailscale_interface = "ts0"
TOML
recap=$(render "$work/render.yml") || fail "ansible-playbook"
want=$("$tswatchdog" run --config "$work/every-expected.toml" --print-config)
got=$("$tswatchdog" run --config "$work/every.toml" --print-config) || true
if [[ -n $want && $got == "$want" ]]; then
  pass "every key set: tswatchdog reads what was meant"
else
  fail "every key set: got"$'\n'"$got"$'\n'"want"$'\n'"$want"$'\n'"rendered:"$'\n'"$(cat "$work/every.toml")"
fi
[[ $(grep -c ' = ' "$work/every.toml") -eq $(wc -l <<<"$daemon_keys") ]] ||
  fail "not one line per key: $(cat "$work/every.toml")"
# Nothing set: no key at all, so the daemon's defaults.
if [[ -e $work/none.toml ]] && ! grep -q ' = ' "$work/none.toml" &&
  [[ $("$tswatchdog" run --config "$work/none.toml" --print-config) == \
    "$("$tswatchdog" run --config /dev/null --print-config)" ]]; then
  pass "no variable set: no key, the defaults"
else
  fail "no variable set rendered: $(cat "$work/none.toml")"
fi
[[ $recap == *"changed=2 "*"failed=0"* ]] || fail "first render: not 2 files changed: $recap"
recap=$(render "$work/render.yml") || fail "ansible-playbook (again)"
if [[ $recap == *"changed=0 "*"failed=0"* ]]; then pass "a second run changes nothing"; else fail "second run: $recap"; fi

# A bad value never reaches the host's file: the template's validate step
# runs `tswatchdog run --print-config`, which names the key.
if render "$work/bad.yml" >/dev/null 2>&1 || [[ -e $work/bad.toml ]]; then
  fail "a bad duration was rendered"
elif grep -q "debounce" "$work/ansible.log"; then
  pass "a bad value fails the run, naming the key, and writes nothing"
else
  fail "a bad value: the error does not name the key: $(tail -5 "$work/ansible.log")"
fi

if command -v ansible-lint >/dev/null; then
  if (cd "$ansible_dir" && ansible-lint --offline --nocolor >"$work/lint.log" 2>&1); then
    pass "ansible-lint (production profile)"
  else
    fail "ansible-lint: $(cat "$work/lint.log")"
  fi
else
  echo "note: ansible-lint not installed, not run"
fi
((failures == 0)) || { echo "$failures failed"; exit 1; }
