# The fleet at a glance, one line per host (tab-separated): host, state,
# tailscaled's verdict, the uplink (v4 device, else v6), recoveries, whether
# the daemon runs. Input: `tswatchdog status --json` run by Ansible ad hoc
# with the json stdout callback (README, "Fleet"):
#   ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_STDOUT_CALLBACK=json \
#     ansible tswatchdog -i inventory.ini -m command -a 'tswatchdog status --json' |
#     jq -r -f fleet-status.jq
.plays[].tasks[].hosts | to_entries[]
| .key as $host
| (.value.stdout // "" | fromjson? // null) as $s
| if $s then
    [$host, $s.state, ($s.tailscale.verdict // "-"),
     (if $s.uplink.v4.usable then $s.uplink.v4.dev
      elif $s.uplink.v6.usable then $s.uplink.v6.dev
      else "no-uplink" end),
     "\($s.counters.recoveries) recoveries",
     (if $s.daemon_running then "running" else "NOT RUNNING" end)]
  else
    [$host, "unknown", (.value.msg // .value.stderr // "no answer" | tostring | split("\n")[0])]
  end
| @tsv
