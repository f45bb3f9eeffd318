#!/usr/bin/env bash
# Cross-builds tswatchdog for router architectures with Debian 12's cross
# compilers, runs the unit tests under qemu-user and prints a table of stripped
# binary sizes (README, "Router architectures"). Not part of CI: it takes tens
# of minutes on 2 cores.
#
#   bash scripts/cross.sh [aarch64|armhf|mipsel|amd64 ...]   (default: all four)
#
# amd64 is the host compiler, same build type, for comparison. Run as root on
# Debian 12: it apt-get installs what it lacks (g++-<triplet>, qemu-user,
# mmdebstrap, the host's build dependencies via scripts/deps.sh). Everything
# else goes under build-cross/ in the source tree.
#
# Target libraries: a per-architecture sysroot (build-cross/sysroot-<arch>),
# not multiarch. mmdebstrap --variant=extract downloads the target's -dev
# packages with their dependencies and unpacks them; nothing is installed and
# no maintainer script runs. Multiarch (dpkg --add-architecture + libfoo-dev:arm64)
# would change the host's dpkg database, needs every -dev package at exactly
# the host's version and can make apt remove or replace host packages that
# other builds on the machine use; the sysroot never touches them. The
# sysroot's apt sources are the host's own Debian ones (apt-get indextargets),
# so the versions match the host's. The cross compiler keeps its own glibc and
# libstdc++ (/usr/<triplet>); cmake/toolchains/ points CMake's find_package,
# find_library and pkg-config (PKG_CONFIG_LIBDIR, PKG_CONFIG_SYSROOT_DIR) at
# the sysroot only. qemu-user runs the test binaries with -L <sysroot>, which
# holds the target's dynamic loader and shared libraries.
#
# Build type: Release with -O2 (-DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG").
# CMake's Release means -O3 and MinSizeRel -Os; -O2 is what Debian packages
# are built with and what the project's default RelWithDebInfo optimizes with,
# so the size is that of the binary users get, without debug info to strip.
# Warnings are errors (the project default, TSWATCHDOG_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-cross

# The unit test binaries that need neither root nor network namespaces
# (tests/CMakeLists.txt): lab_tests and localapi_tests are not run here.
TEST_BINARIES=(core_tests netlink_tests daemon_tests config_tests tailscale_json_tests doctor_tests)

# Tests that cannot pass under qemu-user, with why (gtest filter patterns).
QEMU_EXCLUDED_TESTS=(
  # glibc's posix_spawn clones with CLONE_VM|CLONE_VFORK and the child writes
  # exec's errno into the parent's memory; qemu-user emulates vfork with a
  # plain fork (linux-user/syscall.c, do_fork: "Emulate vfork() with fork()"
  # clears CLONE_VM), so the errno never reaches the parent, posix_spawnp
  # returns 0 and the child exits 127 instead of a spawn error.
  ProcessRunner.MissingProgramIsASpawnError
)

# Target -dev packages for the sysroot. nlohmann-json and cxxopts are
# header-only; toml++ (libtomlplusplus3), spdlog and fmt are shared libraries
# in Debian; gtest/gmock are static; libnl-nf is the conntrack step's.
# libcurl4-openssl-dev: only the fleet lab test links it (its HTTP client for
# Prometheus); it is configured here, never run, and tswatchdog needs none.
SYSROOT_PACKAGES=(libmnl-dev libcurl4-openssl-dev libspdlog-dev libfmt-dev
                  libtomlplusplus-dev nlohmann-json3-dev libcxxopts-dev
                  libnl-3-dev libnl-nf-3-dev libgtest-dev libgmock-dev)

# arch name -> Debian architecture, GNU triplet, qemu-user binary.
declare -A DEB_ARCH=([aarch64]=arm64 [armhf]=armhf [mipsel]=mipsel [amd64]=amd64)
declare -A TRIPLET=([aarch64]=aarch64-linux-gnu [armhf]=arm-linux-gnueabihf
                    [mipsel]=mipsel-linux-gnu [amd64]=x86_64-linux-gnu)
declare -A QEMU=([aarch64]=qemu-aarch64 [armhf]=qemu-arm [mipsel]=qemu-mipsel)

arches=("$@")
((${#arches[@]})) || arches=(aarch64 armhf mipsel amd64)
extra_packages=()
for arch in "${arches[@]}"; do
  [[ -n ${DEB_ARCH[$arch]:-} ]] || { echo "cross: unknown arch '$arch'" >&2; exit 2; }
  [[ $arch == amd64 ]] || extra_packages+=("g++-${TRIPLET[$arch]}")
done
((${#extra_packages[@]})) && extra_packages+=(qemu-user mmdebstrap)
bash scripts/deps.sh "${extra_packages[@]}"

# The host's Debian repositories as one-line apt sources, for mmdebstrap.
# $1 = "nosecurity" leaves out the security suite (see make_sysroot).
host_debian_sources() {
  apt-get indextargets --format '$(ORIGIN) $(LABEL) $(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' |
    awk -v skip="${1:-}" '$1 == "Debian" && $3 == "deb" &&
      !(skip == "nosecurity" && $2 == "Debian-Security") {
        key = $4 " " $5
        if (!(key in comps)) { order[++n] = key; comps[key] = $6 }
        else if (index(" " comps[key] " ", " " $6 " ") == 0) comps[key] = comps[key] " " $6
      }
      END { for (i = 1; i <= n; i++) print "deb " order[i] " " comps[order[i]] }'
}

# Unpacks SYSROOT_PACKAGES and their dependencies for Debian arch $1 into $2;
# kept while the package list is the same.
make_sysroot() {
  local deb_arch=$1 dir=$2 stamp="${SYSROOT_PACKAGES[*]}"
  [[ -f $dir/.tswatchdog-packages && $(<"$dir/.tswatchdog-packages") == "$stamp" ]] && return
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$(dirname "$dir")"  # mmdebstrap needs the parent to exist
  local codename sources attempt
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  for attempt in all nosecurity; do
    mapfile -t sources < <(host_debian_sources "${attempt/all/}")
    echo "cross: sysroot for $deb_arch from: ${sources[*]}"
    if mmdebstrap --quiet --variant=extract --architectures="$deb_arch" \
         --include="$(IFS=,; echo "${SYSROOT_PACKAGES[*]}")" \
         "$codename" "$dir.tmp" "${sources[@]}"; then
      echo "$stamp" >"$dir.tmp/.tswatchdog-packages"
      mv "$dir.tmp" "$dir"
      return
    fi
    rm -rf "$dir.tmp"
    # A mirror whose security index for this architecture is out of step
    # with its Release file fails apt-get update as a whole. The sysroot only
    # serves to compile and to run tests; the router brings its own libraries.
    echo "cross: WARNING: apt could not read the mirrors (above); retrying without the security suite" >&2
  done
  echo "cross: could not make the $deb_arch sysroot" >&2
  exit 1
}

# "passed/total" of one gtest run's output on stdin.
gtest_counts() {
  local text ran passed
  text=$(cat)
  ran=$(sed -n 's/^\[==========\] \([0-9]*\) tests\? from .* ran\..*/\1/p' <<<"$text")
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\?\..*/\1/p' <<<"$text")
  echo "${passed:-0}/${ran:-0}"
}

rows=()
failed=0
for arch in "${arches[@]}"; do
  triplet=${TRIPLET[$arch]}
  build=$out/${DEB_ARCH[$arch]}
  echo "== $arch ($triplet)"
  cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release
              -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG")
  run=()
  if [[ $arch == amd64 ]]; then
    compiler=g++
  else
    compiler=$triplet-g++
    sysroot=$out/sysroot-${DEB_ARCH[$arch]}
    make_sysroot "${DEB_ARCH[$arch]}" "$sysroot"
    cmake_args+=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$triplet.cmake"
                 -DTSWATCHDOG_SYSROOT="$sysroot")
    run=("${QEMU[$arch]}" -L "$sysroot")
  fi
  cmake -S . -B "$build" "${cmake_args[@]}" >"$out/$arch-configure.log"
  cmake --build "$build" -j "$(nproc)" --target tswatchdog "${TEST_BINARIES[@]}"

  "${run[@]}" "$build/tswatchdog" --version
  "${run[@]}" "$build/tswatchdog" run --config /dev/null --print-config >/dev/null
  echo "smoke: ok"

  filter=() excluded=""
  if [[ $arch != amd64 ]] && ((${#QEMU_EXCLUDED_TESTS[@]})); then
    filter=("--gtest_filter=-$(IFS=:; echo "${QEMU_EXCLUDED_TESTS[*]}")")
    excluded=" (+${#QEMU_EXCLUDED_TESTS[@]} excluded under qemu)"
  fi
  passed=0 total=0
  for t in "${TEST_BINARIES[@]}"; do
    log=$out/$arch-$t.log
    status=0
    (cd "$build/tests" && "${run[@]}" "./$t" --gtest_brief=1 "${filter[@]}") >"$log" 2>&1 ||
      status=$?
    counts=$(gtest_counts <"$log")
    echo "$t: $counts passed$( ((status)) && echo ", FAILED (exit $status, see $log)")"
    ((status)) && failed=1
    passed=$((passed + ${counts%/*})) total=$((total + ${counts#*/}))
  done

  strip_tool=$triplet-strip
  [[ $arch == amd64 ]] && strip_tool=strip
  "$strip_tool" -o "$build/tswatchdog.stripped" "$build/tswatchdog"
  bytes=$(stat -c %s "$build/tswatchdog.stripped")
  needed=$(readelf -d "$build/tswatchdog.stripped" |
             sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd ' ')
  rows+=("| $arch | $compiler $("$compiler" -dumpfullversion) | $bytes ($((bytes / 1024)) KiB) | $needed | $passed/$total$excluded |")
done

table=$out/sizes.md
{
  echo "| arch | compiler | stripped tswatchdog | NEEDED | unit tests passed/run |"
  echo "| --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
} >"$table"
echo
echo "== $(date -u +%F), Release -O2, stripped ($table)"
cat "$table"
exit "$failed"
