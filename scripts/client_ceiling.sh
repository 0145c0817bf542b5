#!/usr/bin/env bash
# How much CPU Triton's perf_analyzer and the server each spend per request,
# and so the most requests/s perf_analyzer could drive on this machine even
# against a server that cost nothing (docs/benchmarks.md, "The client's
# ceiling on this machine").
#
#   scripts/client_ceiling.sh SERVER_PID HOST:PORT MODEL INPUT_DATA.json [BATCH:CONCURRENCY ...]
#
# SERVER_PID: a running leadscore-server answering inference.GRPCInferenceService
# on HOST:PORT with MODEL (e.g. the one scripts/bench_peer.sh starts, or start
# it the same way with its WORK_DIR/ours repository). INPUT_DATA: perf_analyzer
# --input-data rows (bench_peer.sh writes WORK_DIR/perf_rows.json).
# Default runs: 1:1 1:4 1:16 1:64 100:4 100:16.
#
# For each run: utime + stime of the server and of the perf_analyzer process
# over the whole perf_analyzer run (all its trial windows), divided by the
# requests the server counted (ModelStatistics execution_count) over the same
# run. Needs the venvs scripts/bench_peer.sh installs:
#   TC_VENV        perf_analyzer 2.40.0 (/tmp/tc240)
#   MLSERVER_VENV  a Python with tritonclient, for ModelStatistics (/tmp/peer-mlserver)
#   MEASURE_MS     perf_analyzer measurement window (3000)
set -euo pipefail

[ $# -ge 4 ] || { sed -n '2,21p' "$0" >&2; exit 2; }
SERVER_PID=$1 ADDR=$2 MODEL=$3 INPUT=$4
shift 4
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=("1:1" "1:4" "1:16" "1:64" "100:4" "100:16")
TC_VENV=${TC_VENV:-/tmp/tc240}
PY=${MLSERVER_VENV:-/tmp/peer-mlserver}/bin/python
MEASURE_MS=${MEASURE_MS:-3000}
PERF=$TC_VENV/bin/perf_analyzer
CUDART=$(ls -d "$TC_VENV"/lib/python3*/site-packages/nvidia/cuda_runtime/lib 2>/dev/null | head -n1 || true)
export LD_LIBRARY_PATH=${CUDART}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
HZ=$(getconf CLK_TCK)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime
executions() {
  "$PY" - "$ADDR" "$MODEL" <<'EOF'
import sys, tritonclient.grpc as g
s = g.InferenceServerClient(sys.argv[1]).get_inference_statistics(sys.argv[2]).model_stats[0]
print(s.execution_count)
EOF
}

printf '| batch | concurrency | rows/s | server CPU per request | perf_analyzer CPU per request | perf_analyzer ceiling (req/s) |\n'
printf '|---:|---:|---:|---:|---:|---:|\n'
for run in "${RUNS[@]}"; do
  b=${run%%:*} c=${run##*:}
  out=$(mktemp)
  e0=$(executions) s0=$(ticks "$SERVER_PID")
  "$PERF" -m "$MODEL" -i grpc -u "$ADDR" --input-data "$INPUT" -b "$b" \
    --concurrency-range "$c" --measurement-interval "$MEASURE_MS" >"$out" 2>&1 &
  pa=$! client=0
  # The client's CPU, sampled until it exits (its /proc entry goes with it).
  while kill -0 "$pa" 2>/dev/null; do
    client=$(ticks "$pa" 2>/dev/null || echo "$client")
    sleep 0.1
  done
  wait "$pa" || { echo "perf_analyzer failed:" >&2; tail -n 5 "$out" >&2; exit 1; }
  s1=$(ticks "$SERVER_PID") e1=$(executions)
  rate=$(awk '/Throughput:/ {print $2; exit}' "$out")
  rm -f "$out"
  awk -v b="$b" -v c="$c" -v rate="$rate" -v n=$((e1 - e0)) -v s=$((s1 - s0)) -v cl="$client" -v hz="$HZ" \
    -v cores="$(nproc)" 'BEGIN {
      su = s / hz * 1e6 / n; cu = cl / hz * 1e6 / n
      printf "| %d | %d | %.0f | %.0f µs | %.0f µs | %.0f |\n", b, c, rate, su, cu, cores * 1e6 / cu
    }'
done
