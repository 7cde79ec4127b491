#!/usr/bin/env bash
# Runs fuzz targets long enough to see whether they have plateaued, and prints their
# figures: executions, coverage after each part of the run, what the last part added,
# and crashes. Two targets at a time (two cores).
#
#   bash fuzz/campaign.sh [SECONDS_PER_TARGET] [TARGET ...]   # default 120 s, every target
#   PARTS=4 bash fuzz/campaign.sh 600 csv slack               # coverage after each quarter
#
# Each target's time is cut into PARTS runs (default 2) on the same corpus (kept in
# corpus/<target>, so a later campaign goes on from where this one stopped); the coverage
# the last part adds shows whether it has plateaued. Seeds with seed.sh first when there is
# no corpus.
#
# Uses the machine's stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z
# flags) and no sanitizer: the code under test is safe Rust, and what is looked for is
# panics, overflows, hangs and runaway memory (libFuzzer's -rss_limit_mb).
set -euo pipefail
# Stopping the campaign stops its fuzzers too (they run under xargs, in this group).
trap 'trap - INT TERM; kill 0' INT TERM
cd "$(dirname "$0")"
secs=${1:-120}
shift || true
parts=${PARTS:-2}
part=$((secs / parts))
command -v cargo-fuzz >/dev/null 2>&1 || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 1; }
unset CARGO_TARGET_DIR
export RUSTC_BOOTSTRAP=1
all=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^chatvault-fuzz$')
if [ $# -gt 0 ]; then
  for t in "$@"; do
    echo "$all" | grep -qx "$t" || { echo "no fuzz target named $t (targets: $(echo $all))" >&2; exit 1; }
  done
  targets=$(printf '%s\n' "$@")
else
  targets=$all
fi
[ -d corpus ] || bash seed.sh
cargo fuzz build -s none -O >/dev/null
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p logs artifacts
run_one() {
  t=$1; part=$2; parts=$3; bin=$4
  mkdir -p "corpus/$t" "artifacts/$t"
  covs=""
  for p in $(seq 1 "$parts"); do
    "$bin/$t" "corpus/$t" -max_total_time="$part" -print_final_stats=1 -rss_limit_mb=2048 \
      -timeout=10 -artifact_prefix="artifacts/$t/" > "logs/$t.$p.log" 2>&1 || true
    c=$(grep -oE "cov: [0-9]+" "logs/$t.$p.log" | tail -1 | awk '{print $2}')
    covs="$covs ${c:-0}"
  done
  e=0
  for p in $(seq 1 "$parts"); do
    n=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "logs/$t.$p.log" | awk '{s += $2} END {print s + 0}')
    e=$((e + n))
  done
  set -- $covs
  last=${!#}
  prev=$(echo $covs | awk '{print (NF > 1) ? $(NF-1) : 0}')
  crashes=$(find "artifacts/$t" -type f | wc -l)
  printf '%-18s %12s  %-32s %6s %8s\n' "$t" "$e" "$(echo $covs | tr ' ' '/')" "$((last - prev))" "$crashes"
}
export -f run_one
printf '%-18s %12s  %-32s %6s %8s\n' target execs "coverage after each part" added crashes
echo "$targets" | xargs -P 2 -I{} bash -c "run_one {} $part $parts $bin"
