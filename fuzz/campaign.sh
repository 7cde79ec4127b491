#!/usr/bin/env bash
# Runs every fuzz target long enough to see whether it has plateaued, and prints its
# figures: executions, coverage after the first and the second half, what the second
# half added, and crashes. Two targets at a time (two cores).
#
#   bash fuzz/campaign.sh [SECONDS_PER_TARGET]   # default 120; seeds with seed.sh first
#
# Uses the machine's stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z
# flags) and no sanitizer: the code under test is safe Rust, and what is looked for is
# panics, overflows, hangs and runaway memory (libFuzzer's -rss_limit_mb).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-120}
half=$((secs / 2))
command -v cargo-fuzz >/dev/null 2>&1 || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 1; }
unset CARGO_TARGET_DIR
export RUSTC_BOOTSTRAP=1
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^chatvault-fuzz$')
[ -d corpus ] || bash seed.sh
cargo fuzz build -s none -O >/dev/null
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p logs artifacts
run_one() {
  t=$1; half=$2; bin=$3
  mkdir -p "corpus/$t" "artifacts/$t"
  for part in 1 2; do
    "$bin/$t" "corpus/$t" -max_total_time="$half" -print_final_stats=1 -rss_limit_mb=2048 \
      -timeout=10 -artifact_prefix="artifacts/$t/" > "logs/$t.$part.log" 2>&1 || true
  done
  cov() { grep -oE "cov: [0-9]+" "$1" | tail -1 | awk '{print $2}'; }
  execs() { grep -oE "stat::number_of_executed_units: *[0-9]+" "$1" | awk '{s += $2} END {print s + 0}'; }
  c1=$(cov "logs/$t.1.log"); c2=$(cov "logs/$t.2.log")
  e=$(( $(execs "logs/$t.1.log") + $(execs "logs/$t.2.log") ))
  crashes=$(find "artifacts/$t" -type f | wc -l)
  printf '%-18s %12s %8s %8s %8s %8s\n' "$t" "$e" "${c1:-0}" "${c2:-0}" "$(( ${c2:-0} - ${c1:-0} ))" "$crashes"
}
export -f run_one
printf '%-18s %12s %8s %8s %8s %8s\n' target execs cov_half cov_end added crashes
echo "$targets" | xargs -P 2 -I{} bash -c "run_one {} $half $bin"
