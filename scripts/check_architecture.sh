#!/usr/bin/env bash
# The rules of the code outside tests/ (README, "Design";
# docs/architecture.md), checked so that they stay true:
#   1. which folder may include which: the layers of watchdog/, core at the
#      bottom with the standard library and netlink/'s types only (no curl,
#      epoll, spdlog or JSON; config/ builds on the core's vocabulary, so the
#      core cannot include config/ without a cycle);
#   2. no source file over 600 lines, no function over 60 lines (from the
#      line that names it to its closing brace; lambdas count in the function
#      that holds them; extents from universal-ctags).
# Prints every offender and exits 1 if there is one; ctest runs it (tests
# `architecture_layers` and `architecture_sizes`, label unit).
# Usage: scripts/check_architecture.sh [--layers | --sizes] [SOURCE_DIR]
set -euo pipefail
shopt -s extglob
check_layers=1 check_sizes=1
case "${1-}" in
  --layers) check_sizes=0; shift ;;
  --sizes) check_layers=0; shift ;;
esac
cd "${1:-$(dirname "$0")/..}"
max_file_lines=600
max_function_lines=60

# Folder -> the project folders its files may include (besides their own).
declare -A allowed=(
  [watchdog/core]="netlink"
  [watchdog/io]="netlink watchdog/core"
  [watchdog/localapi]="netlink watchdog/core watchdog/io"
  [watchdog/daemon]="netlink config watchdog/core watchdog/io watchdog/localapi"
  [watchdog/doctor]="netlink watchdog/core"
  [watchdog/cli]="netlink config watchdog/core watchdog/io watchdog/localapi watchdog/daemon watchdog/doctor"
  [config]="watchdog/core"
  [netlink]=""
)

if ((check_sizes)) && ! ctags --version 2>/dev/null | grep -q 'Universal Ctags'; then
  echo "check_architecture: universal-ctags is missing (scripts/deps.sh installs it)" >&2
  exit 2
fi

mapfile -t sources < <(find netlink config watchdog -type f \
  \( -name '*.h' -o -name '*.cc' -o -name '*.cpp' \) | sort)
status=0

for file in "${sources[@]}"; do
  ((check_layers)) || break
  folder=$(dirname "$file")
  while read -r include; do
    target=$(dirname "$include")
    [[ $target == "$folder" ]] && continue
    ok=0
    for permitted in ${allowed[$folder]-}; do
      [[ $target == "$permitted" ]] && ok=1
    done
    if ((!ok)); then
      echo "$file: includes \"$include\" ($folder may not depend on $target)"
      status=1
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
done

# The core: the standard library only among the <...> headers (C++ headers
# have no ".h"; a system header such as <sys/epoll.h> or <curl/curl.h>, or a
# library's <spdlog/...> or <nlohmann/...>, has a '/' or a '.').
for file in watchdog/core/*; do
  ((check_layers)) || break
  while read -r header; do
    if [[ $header == */* || $header == *.* ]]; then
      echo "$file: includes <$header> (the core uses the standard library only)"
      status=1
    fi
  done < <(sed -n 's/^#include <\([^>]*\)>.*/\1/p' "$file")
done

for file in "${sources[@]}"; do
  ((check_sizes)) || break
  lines=$(wc -l <"$file")
  if ((lines > max_file_lines)); then
    echo "$file: $lines lines (limit $max_file_lines)"
    status=1
  fi
done
# One line per function definition: FILE START END NAME.
((check_sizes)) && while read -r file start end name; do
  name=${name//__anon+([0-9a-f])/(anonymous)}
  length=$((end - start + 1))
  if ((length > max_function_lines)); then
    echo "$file:$start: $name is $length lines (limit $max_function_lines)"
    status=1
  fi
done < <(ctags -x --language-force=C++ --kinds-C++=f --fields=+ne \
  --_xformat='%{input} %{line} %{end} %{scope}::%N' "${sources[@]}")

if ((status == 0)); then
  summary="check_architecture: ${#sources[@]} files"
  ((check_layers)) && summary+=", includes follow the layers"
  ((check_sizes)) && summary+=", files within $max_file_lines lines, functions within $max_function_lines"
  echo "$summary"
fi
exit $status
