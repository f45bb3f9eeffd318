#!/usr/bin/env bash
# promtool check rules and promtool test rules on contrib/prometheus/.
# Usage: promtool_test.sh PROMTOOL CONTRIB_PROMETHEUS_DIR. Exit 77 (skip)
# without promtool.
set -euo pipefail
promtool=$1
dir=$2
if [[ -z $promtool || ! -x $promtool ]]; then
  echo "SKIP: promtool not found; bash scripts/deps.sh unpacks it" >&2
  exit 77
fi
"$promtool" check rules "$dir/tswatchdog.rules.yml"
cd "$dir/tests"
"$promtool" test rules ./*.test.yml
