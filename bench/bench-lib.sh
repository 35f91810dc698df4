# bench-lib.sh — shell functions shared by the benchmark scripts (sourced by bench/run-bench.sh and
# bench/bench-train.sh, never run on its own): building the benchmark targets in a release build
# folder, checking that Debian's Python has torch, and the machine line printed above a table.
# shellcheck shell=sh

# bench_build DIR ROOT TARGET... : configures DIR (`meson setup -Dbuildtype=release -Dgui=false`
# plus $MESON_ARGS) when it does not exist yet, then builds the ninja TARGETs in it; shows ninja's
# output (DIR/bench-build.log) and fails when the build does.
bench_build () {
  _dir=$1
  _root=$2
  shift 2
  if [ ! -d "$_dir" ]; then
    # shellcheck disable=SC2086
    meson setup "$_dir" "$_root" -Dbuildtype=release -Dgui=false ${MESON_ARGS:-} >/dev/null
  fi
  if ! ninja -C "$_dir" "$@" >"$_dir/bench-build.log" 2>&1; then
    cat "$_dir/bench-build.log" >&2
    return 1
  fi
}

# bench_have_torch NAME : true when /usr/bin/python3 imports torch and torchvision; otherwise
# says on stderr that script NAME times Hilum only, and is false.
bench_have_torch () {
  if /usr/bin/python3 -c "import torch, torchvision" 2>/dev/null; then
    return 0
  fi
  echo "$1: /usr/bin/python3 has no torch/torchvision: timing Hilum only" >&2
  return 1
}

# bench_machine : the processor, its CPU count and today's date, e.g.
# "Intel(R) Xeon(R) Processor (2 CPUs), 2026-11-26".
bench_machine () {
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "($(nproc) CPUs), $(date -u +%Y-%m-%d)"
}
