#!/usr/bin/env bash
# One row of the scale table in docs/benchmarks.md, at N messages:
#   bash crates/chatvault-bench/scale.sh 1000000        # about 3 minutes here
#   bash crates/chatvault-bench/scale.sh 3000000        # about 9 minutes
#   bash crates/chatvault-bench/scale.sh 10000000 10    # under 20 minutes, see the docs
#
# It runs `chatvault-bench` (import, size, peak RSS, search per class with recall and
# precision checked against substring truth, and the SQLite FTS5 trigram baseline in the
# same run) and `access-bench` (every role through the real router beside the plain
# `Archive::search` of the same run, each count checked against the policy applied to
# every match), then prints the row. Both exit non-zero on a wrong answer.
# The second argument is how many queries per class the FTS5 baseline is asked (its
# short keywords are scans of every row); default 20.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:?usage: scale.sh MESSAGES [FTS5_QUERIES_PER_CLASS]}
fts5=${2:-20}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatvault-target}"
cargo build --release -q -p chatvault-bench
bin="$CARGO_TARGET_DIR/release"
rg=()
command -v rg >/dev/null 2>&1 || rg=(--no-rg)
start=$(date +%s)
main=$("$bin/chatvault-bench" --messages "$n" --fts5-queries "$fts5" "${rg[@]}" | tee -a /dev/stderr | tail -n 1)
roles=$("$bin/access-bench" --messages "$n" | tee -a /dev/stderr | tail -n 1)
took=$(($(date +%s) - start))
python3 - "$main" "$roles" "$took" <<'PY'
import json, sys
m, r, took = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
c = m["classes"]
cls = " | ".join(f'{c[k]["p50_ms"]:.2f} / {c[k]["p99_ms"]:.2f}' for k in ["cjk1", "cjk2", "cjk3", "cjk4+", "ascii"])
roles = " / ".join(f'{r[k + "_p99_ms"]:.1f}' for k in ["baseline", "exec", "agent", "lead", "legal"])
print("| messages | import msg/s (FTS5 build) | store + index (× JSONL) | beyond the text, B/msg | peak RSS MiB | "
      "1 char | 2 chars | 3 chars | 4–8 chars | ASCII | all p99 (FTS5 p99) | "
      "role p99: baseline / exec / agent / lead / legal | run s |")
print(f'| {m["messages"]:,} | {m["import_msgs_per_s"]:,.0f} ({m["fts5_build_msgs_per_s"]:,.0f}) | '
      f'{(m["store_bytes"] + m["index_bytes"]) / 1e6:,.0f} MB ({m["size_ratio"]}×) | {m["overhead_bytes_per_message"]:.0f} | {m["peak_rss_bytes"] >> 20} | '
      f'{cls} | {m["search_p99_ms"]:.2f} ({m["fts5_p99_ms"]:.0f}) | {roles} | {took} |')
PY
