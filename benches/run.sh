#!/usr/bin/env bash
# Mapping benchmark: flowc vs jq vs jaq vs a plain serde_json + rust_decimal
# program, all on the same generated NDJSON, outputs verified equal.
#
#   benches/run.sh                  # N=200000 orders
#   N=50000 REPEAT=1 benches/run.sh
#   INSTALL_JAQ=1 benches/run.sh    # `cargo install jaq` if jaq is missing (minutes)
#
# Env: N (orders, default 200000), REPEAT (runs per runner, best wall time
# is reported, default 3), SEED (default 42), INSTALL_JAQ (0/1).
set -euo pipefail

BENCH="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$BENCH")"
DATA="$BENCH/data"
N="${N:-200000}"
REPEAT="${REPEAT:-3}"
SEED="${SEED:-42}"
SMALL=$(( N / 10 ))
mkdir -p "$DATA"
cd "$BENCH"

note() { printf '== %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

# ---------------------------------------------------------------- tools
if [ ! -x /usr/bin/time ]; then
  note "installing GNU time"
  as_root apt-get install -y time >/dev/null || { as_root apt-get update >/dev/null && as_root apt-get install -y time >/dev/null; }
fi
if ! command -v jq >/dev/null; then
  note "installing jq"
  as_root apt-get install -y jq >/dev/null || { as_root apt-get update >/dev/null && as_root apt-get install -y jq >/dev/null; } || note "jq could not be installed; skipping it"
fi
JAQ="$(command -v jaq || true)"
[ -z "$JAQ" ] && [ -x "$HOME/.cargo/bin/jaq" ] && JAQ="$HOME/.cargo/bin/jaq"
if [ -z "$JAQ" ] && [ "${INSTALL_JAQ:-0}" = 1 ]; then
  note "installing jaq from crates.io (cargo install jaq --locked; takes minutes)"
  if cargo install jaq --locked >"$DATA/jaq-install.log" 2>&1; then
    JAQ="$(command -v jaq || echo "$HOME/.cargo/bin/jaq")"
  else
    note "cargo install jaq failed (see $DATA/jaq-install.log); skipping jaq"
  fi
fi
[ -n "$JAQ" ] || note "jaq not found; skipping it (INSTALL_JAQ=1 installs it with cargo)"

# ---------------------------------------------------------------- build
note "building flowc and the serde baseline (release)"
(cd "$ROOT" && cargo build --release --quiet --bin flowc)
FLOWC="$ROOT/target/release/flowc"
SERDE="$(cd "$ROOT" && cargo bench --bench serde_baseline --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "serde_baseline" and m.get("executable"):
        print(m["executable"])')"
[ -x "$SERDE" ] || { echo "could not build the serde baseline" >&2; exit 2; }

# ---------------------------------------------------------------- data
note "generating $N orders (seed $SEED) and $SMALL for the memory check"
python3 gen_orders.py "$N" "$DATA/orders.ndjson" --seed "$SEED"
python3 gen_orders.py "$SMALL" "$DATA/orders-small.ndjson" --seed "$SEED"
# The same flow, reading the small file (paths are relative to the .flow file).
sed -e 's#"data/orders.ndjson"#"orders-small.ndjson"#' -e 's#"data/out-flowc.ndjson"#"out-flowc-small.ndjson"#' \
  orders.flow >"$DATA/orders-small.flow"
BYTES=$(stat -c %s "$DATA/orders.ndjson")
note "input: $N orders, $(( BYTES / 1048576 )) MiB"

# ---------------------------------------------------------------- runs
# measure NAME OUTFILE CMD...: best wall time of REPEAT runs (and its peak RSS)
declare -A SECS RSS
measure() {
  local name=$1 out=$2; shift 2
  local best="" bestrss="" i
  for ((i = 1; i <= REPEAT; i++)); do
    if [ "$out" = - ]; then
      /usr/bin/time -f "%e %M" -o "$DATA/time.txt" "$@" >/dev/null 2>"$DATA/stderr-$name.txt"
    else
      /usr/bin/time -f "%e %M" -o "$DATA/time.txt" "$@" >"$out" 2>"$DATA/stderr-$name.txt"
    fi || { echo "$name failed:" >&2; cat "$DATA/stderr-$name.txt" >&2; exit 2; }
    read -r s kb <"$DATA/time.txt"
    note "$name run $i: ${s}s, $(( kb / 1024 )) MB"
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $s < $best else 1)"; then
      best=$s; bestrss=$kb
    fi
  done
  SECS[$name]=$best
  RSS[$name]=$bestrss
}

RUNNERS=(flowc serde-baseline)
measure flowc - "$FLOWC" run orders.flow
measure serde-baseline - "$SERDE" "$DATA/orders.ndjson" "$DATA/out-serde.ndjson"
if command -v jq >/dev/null; then
  RUNNERS+=(jq)
  measure jq "$DATA/out-jq.ndjson" jq -c -f orders.jq "$DATA/orders.ndjson"
fi
if [ -n "$JAQ" ]; then
  RUNNERS+=(jaq)
  measure jaq "$DATA/out-jaq.ndjson" "$JAQ" -c -f orders.jq "$DATA/orders.ndjson"
fi
measure flowc-small - "$FLOWC" run "$DATA/orders-small.flow"

# ---------------------------------------------------------------- verify
note "verifying outputs"
OK=1
python3 compare.py --bytes "$DATA/out-flowc.ndjson" "$DATA/out-serde.ndjson" || OK=0
for r in jq jaq; do
  [ -f "$DATA/out-$r.ndjson" ] && [[ " ${RUNNERS[*]} " == *" $r "* ]] || continue
  python3 compare.py "$DATA/out-flowc.ndjson" "$DATA/out-$r.ndjson" || OK=0
done
WRITTEN=$(wc -l <"$DATA/out-flowc.ndjson")

# ---------------------------------------------------------------- flowc check
python3 gen_big_flow.py "$DATA/big.flow" 500
LINES=$(wc -l <"$DATA/big.flow")
"$FLOWC" check "$DATA/big.flow" >/dev/null 2>&1 || { echo "big.flow does not check" >&2; "$FLOWC" check "$DATA/big.flow"; exit 2; }
CHECK_MS=$(python3 - "$FLOWC" "$DATA/big.flow" <<'PY'
import subprocess, sys, time
best = None
for _ in range(10):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "check", sys.argv[2]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    ms = (time.perf_counter() - t) * 1000
    best = ms if best is None else min(best, ms)
print(f"{best:.1f}")
PY
)

# ---------------------------------------------------------------- report
{
  echo "N=$N orders ($(( BYTES / 1048576 )) MiB NDJSON), $WRITTEN written; best of $REPEAT; $(nproc) cores; $(date -u +%Y-%m-%d)"
  printf '%-16s %9s %12s %13s\n' runner seconds records/s "peak RSS MB"
  for r in "${RUNNERS[@]}" flowc-small; do
    n=$N; [ "$r" = flowc-small ] && n=$SMALL
    printf '%-16s %9s %12s %13s\n' "$r" "${SECS[$r]}" \
      "$(python3 -c "print(f'{$n / max(${SECS[$r]}, 0.005):,.0f}')")" \
      "$(python3 -c "print(f'{${RSS[$r]} / 1024:.1f}')")"
  done
  echo
  echo "speed ratios (flowc records/s ÷ other records/s; target in brackets):"
  for r in jaq jq serde-baseline; do
    [ -n "${SECS[$r]:-}" ] || { echo "  flowc/$r: n/a (not run)"; continue; }
    case $r in jaq) t=">= 1";; jq) t=">= 5";; serde-baseline) t=">= 0.5";; esac
    python3 -c "print(f'  flowc/$r: {${SECS[$r]} / max(${SECS[flowc]}, 0.005):.2f}x  [$t]')"
  done
  python3 -c "print(f'memory flatness: flowc peak RSS {${RSS[flowc]}/1024:.1f} MB at N=$N, {${RSS[flowc-small]}/1024:.1f} MB at N=$SMALL')"
  echo "flowc check on a generated $LINES-line flow: $CHECK_MS ms (best of 10, whole process)"
  if [ $OK = 1 ]; then echo "outputs: EQUAL (flowc == serde-baseline byte for byte; jq/jaq == flowc as exact decimal values)"; else echo "outputs: DIFFERENT (see above)"; fi
} | tee "$DATA/results.txt"
[ $OK = 1 ]
