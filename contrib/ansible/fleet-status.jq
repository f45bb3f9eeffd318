# The fleet at a glance, one line per host (tab-separated): host, state,
# tailscaled's verdict, the uplink (v4 device, else v6), recoveries, whether
# the daemon that wrote the state file runs. Input: the per-host files of
# Ansible's ad hoc --tree (README, "Fleet"):
#   d=$(mktemp -d)
#   ansible tswatchdog -i inventory.ini -m command -a 'tswatchdog status --json' -t "$d" >/dev/null
#   jq -r -f fleet-status.jq "$d"/*
(input_filename | split("/") | last) as $host
| (.stdout // "" | fromjson? // null) as $s
| if $s then
    [$host, $s.state, ($s.tailscale.verdict // "-"),
     (if $s.uplink.v4.usable then $s.uplink.v4.dev
      elif $s.uplink.v6.usable then $s.uplink.v6.dev
      else "no-uplink" end),
     "\($s.counters.recoveries) recoveries",
     (if $s.daemon_running then "running" else "NOT RUNNING" end)]
  else
    [$host, "unknown",
     ((if (.stderr // "") != "" then .stderr else .msg // "no answer" end)
      | tostring | split("\n")[0])]
  end
| @tsv
