#!/usr/bin/env bash
# Peer benchmark: leadscore-server vs Seldon MLServer (scikit-learn runtime),
# same client (Triton's perf_analyzer 2.40.0), same protocol (KServe V2 /
# Open Inference Protocol over gRPC), same model (standardized logistic
# regression on the same 16 numeric features and rows), same machine, loopback only.
#
#   scripts/bench_peer.sh                 # everything: install, build, train, measure, report
#
# Environment (all optional):
#   MLSERVER_VENV   venv for MLServer 1.7 + mlserver-sklearn + scikit-learn   (/tmp/peer-mlserver)
#   TC_VENV         venv holding tritonclient 2.40.0's perf_analyzer          (/tmp/tc240)
#   CARGO_TARGET_DIR                                                          (/tmp/peer-target)
#   WORK_DIR        data, model repositories, server logs                     (mktemp -d)
#   RESULTS_DIR     results.md, raw perf_analyzer CSVs and logs               (/tmp/bench-peer-results/<UTC time>)
#   LEADFORGE_CSV   shared data set (../shared/data/leadforge/leadforge_converted_within_90_days.csv);
#                   absent -> 16 synthetic numeric features (numpy, seed 7)
#   MEASURE_MS      perf_analyzer measurement window in ms (4000)
#   LOAD_MAX        wait until the 1-minute load average is below this (1.5) ...
#   LOAD_WAIT_S     ... for at most this many seconds (600), then go on and say so
#   MLS_GRPC_PORT / MLS_HTTP_PORT / OURS_PORT   (18081 / 18080 / 18051), all on 127.0.0.1
#
# What it does:
# 1. Installs (only when missing): MLServer 1.7.1 + mlserver-sklearn + scikit-learn
#    with uvloop pinned to 0.21.0 (newer uvloop breaks MLServer's parallel workers),
#    and tritonclient 2.40.0 with --no-deps in its own venv just for the
#    perf_analyzer binary its manylinux wheel carries (tritonclient-2.40.0.data/
#    data/bin -> $TC_VENV/bin), plus nvidia-cuda-runtime-cu12 for libcudart.so.12
#    (put on LD_LIBRARY_PATH; no GPU is used) and Debian's libb64-0d via apt-get.
# 2. Builds leadscore-server and leadscore-train (release) and prepares the data
#    with scripts/bench_peer/prepare.py: 16 numeric, non-leaky columns
#    (total_touches_all and the opportunity columns are left out), blanks filled
#    with the column median, target `converted`. scikit-learn trains
#    StandardScaler + LogisticRegression (joblib, served by mlserver_sklearn with
#    parallel_workers 0 = inference in the server process, its best setting
#    here); leadscore-train trains on the same CSV with --numeric-bins 0, so both
#    are plain standardized logistic regressions.
# 3. MLServer has no Triton ModelConfig RPC, which perf_analyzer calls at start.
#    scripts/bench_peer/mlserver_modelconfig.py starts MLServer through its own
#    CLI after adding one extra gRPC handler to MLServer's gRPC server that
#    returns a constant, hand-encoded ModelConfigResponse (max_batch_size 1000,
#    input `leads` FP64 [16], output `predict_proba` FP64 [2]). No proxy: the
#    ModelInfer path is MLServer's own, untouched.
# 4. Checks both servers return the same probabilities for the benchmark rows,
#    then runs perf_analyzer (gRPC, synchronous requests, --input-data with the
#    first 1000 real rows, because perf_analyzer's default random bytes read as
#    FP64 reach 1e308): batch 1 at concurrency 1, 4, 16, 64 and batch 100 at
#    concurrency 4, 16; MLServer first (then stopped), then leadscore-server.
#    Before each server's runs it waits for a quiet machine; the load is printed
#    at start and end of every run. At the end it reads VmRSS of both servers.
# 5. Writes a Markdown table (requests/s, rows/s, p50/p90/p99 latency, ratios)
#    to stdout and $RESULTS_DIR/results.md.
# 6. Appends each server's CPU (utime+stime) per request at batch 1 and 100,
#    c = 1, 4 and 16, from scripts/peer_cpu.py (the client's CPU left out).
#
# perf_analyzer requests every output a model's metadata lists. MLServer lists
# predict_proba ([batch, 2]); leadscore lists probability ([batch, 1]) only
# (score and contributions are optional outputs, named in ModelConfig).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/scripts/bench_peer
MLSERVER_VENV=${MLSERVER_VENV:-/tmp/peer-mlserver}
TC_VENV=${TC_VENV:-/tmp/tc240}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/peer-target}
WORK_DIR=${WORK_DIR:-$(mktemp -d /tmp/bench-peer-work.XXXXXX)}
RESULTS_DIR=${RESULTS_DIR:-/tmp/bench-peer-results/$(date -u +%Y%m%dT%H%M%SZ)}
LEADFORGE_CSV=${LEADFORGE_CSV:-$ROOT/../shared/data/leadforge/leadforge_converted_within_90_days.csv}
MEASURE_MS=${MEASURE_MS:-4000}
LOAD_MAX=${LOAD_MAX:-1.5}
LOAD_WAIT_S=${LOAD_WAIT_S:-600}
MLS_GRPC_PORT=${MLS_GRPC_PORT:-18081}
MLS_HTTP_PORT=${MLS_HTTP_PORT:-18080}
OURS_PORT=${OURS_PORT:-18051}
HOST=127.0.0.1
MODEL=leads
# batch:concurrency
RUNS=("1:1" "1:4" "1:16" "1:64" "100:4" "100:16")

mkdir -p "$WORK_DIR" "$RESULTS_DIR/raw"
log() { echo "[bench_peer $(date -u +%H:%M:%S)] $*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# --- 1. installs -----------------------------------------------------------------
if ! ldconfig -p | grep -q 'libb64\.so\.0d'; then
  log "installing libb64-0d (perf_analyzer needs libb64.so.0d)"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y -q libb64-0d >/dev/null
fi
if [ ! -x "$MLSERVER_VENV/bin/mlserver" ]; then
  log "installing MLServer into $MLSERVER_VENV"
  python3 -m venv "$MLSERVER_VENV"
  "$MLSERVER_VENV/bin/pip" install -q 'mlserver==1.7.1' 'mlserver-sklearn==1.7.1' scikit-learn \
    'uvloop==0.21.0' pandas numpy joblib
fi
if [ ! -x "$TC_VENV/bin/perf_analyzer" ]; then
  log "installing tritonclient 2.40.0 (perf_analyzer) into $TC_VENV"
  python3 -m venv "$TC_VENV"
  # --no-deps: 2.40.0's grpcio-tools pin has no Python 3.11 wheel; only the binary is needed.
  "$TC_VENV/bin/pip" install -q --no-deps 'tritonclient[grpc]==2.40.0' nvidia-cuda-runtime-cu12
fi
PERF=$TC_VENV/bin/perf_analyzer
CUDART=$(dirname "$(find "$TC_VENV" -name 'libcudart.so.12' | head -n1)")
export LD_LIBRARY_PATH=$CUDART${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
"$PERF" --version >/dev/null 2>&1 || { log "perf_analyzer does not start:"; "$PERF" --version; exit 1; }
MLS_PY=$MLSERVER_VENV/bin/python
log "versions: $("$MLS_PY" -c 'import mlserver, sklearn; print("mlserver", mlserver.__version__, "scikit-learn", sklearn.__version__)'), $("$PERF" --version 2>&1 | head -n1)"

# --- 2. build, data, models -----------------------------------------------------
log "building leadscore-server and leadscore-train (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT" && cargo build --release --quiet --bin leadscore-server --bin leadscore-train)
BIN=$CARGO_TARGET_DIR/release

"$MLS_PY" "$HERE/prepare.py" "$WORK_DIR" "$LEADFORGE_CSV" | tee "$RESULTS_DIR/prepare.txt" >&2
mkdir -p "$WORK_DIR/ours/$MODEL"
# --test-fraction 0.01 (its smallest sensible value): fit on ~all rows, as scikit-learn's model is;
# --model logistic --calibration none: a plain logistic regression, as scikit-learn's is
# (the trainer's default, --model auto, may pick gbdt).
"$BIN/leadscore-train" --data "$WORK_DIR/data.csv" --target converted --model logistic --numeric-bins 0 --calibration none \
  --test-fraction 0.01 \
  --out "$WORK_DIR/ours/$MODEL/1" >"$RESULTS_DIR/train_ours.log" 2>&1 \
  || { cat "$RESULTS_DIR/train_ours.log" >&2; exit 1; }
tail -n 5 "$RESULTS_DIR/train_ours.log" >&2

# Rows for --input-data (first 1000 data rows), in the column order both models use.
"$MLS_PY" - "$WORK_DIR" <<'EOF'
import json, sys
from pathlib import Path
import pandas as pd
work = Path(sys.argv[1])
x = pd.read_csv(work / "data.csv").drop(columns=["converted"]).head(1000)
(work / "perf_rows.json").write_text(json.dumps({"data": [{"leads": r.tolist()} for r in x.values]}))
EOF

# --- servers ---------------------------------------------------------------------
start_mlserver() {
  (cd "$WORK_DIR" && MLSERVER_HOST=$HOST MLSERVER_HTTP_PORT=$MLS_HTTP_PORT MLSERVER_GRPC_PORT=$MLS_GRPC_PORT \
    PEER_MODEL_NAME=$MODEL PEER_N_FEATURES=16 \
    exec "$MLS_PY" "$HERE/mlserver_modelconfig.py" start "$WORK_DIR/mlserver") \
    >"$RESULTS_DIR/mlserver.log" 2>&1 &
  MLS_PID=$!; PIDS+=("$MLS_PID")
}
start_ours() {
  "$BIN/leadscore-server" --grpc-addr "$HOST:$OURS_PORT" --metrics-addr off \
    --models "$WORK_DIR/ours" --default-model "$MODEL" --watch-models false \
    --reload-poll-interval 0s --log-level warn >"$RESULTS_DIR/leadscore.log" 2>&1 &
  OURS_PID=$!; PIDS+=("$OURS_PID")
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
for p in "$MLS_GRPC_PORT" "$MLS_HTTP_PORT" "$OURS_PORT"; do
  port_free "$p" || { log "port $HOST:$p is in use; set MLS_GRPC_PORT / MLS_HTTP_PORT / OURS_PORT"; exit 1; }
done
wait_ready() { # port name pid
  for _ in $(seq 1 120); do
    kill -0 "$3" 2>/dev/null || { log "$2 exited; see $RESULTS_DIR/*.log"; exit 1; }
    if "$MLS_PY" - "$HOST:$1" <<'EOF' 2>/dev/null; then return 0; fi
import sys, tritonclient.grpc as g
c = g.InferenceServerClient(sys.argv[1])
sys.exit(0 if c.is_model_ready("leads") else 1)
EOF
    sleep 0.5
  done
  log "$2 did not become ready on $HOST:$1"; exit 1
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_mlserver; start_ours
wait_ready "$MLS_GRPC_PORT" MLServer "$MLS_PID"; wait_ready "$OURS_PORT" leadscore-server "$OURS_PID"

# Same model? Score the benchmark rows on both (tritonclient, which MLServer ships).
"$MLS_PY" - "$HOST:$MLS_GRPC_PORT" "$HOST:$OURS_PORT" "$WORK_DIR/perf_rows.json" <<'EOF' | tee "$RESULTS_DIR/agreement.txt" >&2
import json, sys
import numpy as np
import tritonclient.grpc as g
rows = np.array([d["leads"] for d in json.load(open(sys.argv[3]))["data"]], dtype=np.float64)
def infer(addr, out, col):
    c = g.InferenceServerClient(addr)
    i = g.InferInput("leads", list(rows.shape), "FP64"); i.set_data_from_numpy(rows)
    return c.infer("leads", [i], outputs=[g.InferRequestedOutput(out)]).as_numpy(out)[:, col]
cfg = g.InferenceServerClient(sys.argv[2]).get_model_config("leads").config
names = cfg.parameters["feature_names"].string_value if "feature_names" in cfg.parameters else "?"
p_mls = infer(sys.argv[1], "predict_proba", 1)
p_ours = infer(sys.argv[2], "probability", 0)
d = np.abs(p_mls - p_ours)
print(f"leadscore feature order: {names}")
print(f"agreement on {len(rows)} rows: max |p_mlserver - p_leadscore| = {d.max():.2e}, mean = {d.mean():.2e}, "
      f"mean p = {p_mls.mean():.4f} / {p_ours.mean():.4f}")
EOF
MLS_RSS_IDLE=$(rss_kib "$MLS_PID"); OURS_RSS_IDLE=$(rss_kib "$OURS_PID")
stop_pid "$OURS_PID"   # measure one server at a time

# --- 4. measurements --------------------------------------------------------------
wait_quiet() {
  local start=$SECONDS
  while awk -v l="$(load1)" -v m="$LOAD_MAX" 'BEGIN {exit !(l >= m)}'; do
    if (( SECONDS - start >= LOAD_WAIT_S )); then
      log "load still $(load1) after ${LOAD_WAIT_S}s; measuring anyway"
      echo "load did not fall below $LOAD_MAX within ${LOAD_WAIT_S}s (was $(load1))" >>"$RESULTS_DIR/notes.txt"
      return
    fi
    sleep 10
  done
  log "quiet: load $(load1) (waited $((SECONDS - start))s)"
}

SUMMARY=$RESULTS_DIR/summary.tsv
[ -f "$SUMMARY" ] || printf 'server\tbatch\tconcurrency\tinfer_per_s\tp50_us\tp90_us\tp99_us\tload_start\tload_end\tstability\n' >"$SUMMARY"
run_perf() { # server port batch concurrency
  local server=$1 port=$2 b=$3 c=$4 csv out lstart lend rc stab
  for stab in 20 50; do
    csv=$RESULTS_DIR/raw/${server}_b${b}_c${c}.csv; out=$RESULTS_DIR/raw/${server}_b${b}_c${c}.txt
    lstart=$(uptime | sed 's/.*load average: //')
    log "$server batch $b concurrency $c (stability ${stab}%) load at start: $lstart"
    set +e
    "$PERF" -m "$MODEL" -i grpc -u "$HOST:$port" --input-data "$WORK_DIR/perf_rows.json" \
      -b "$b" --concurrency-range "$c" --measurement-interval "$MEASURE_MS" \
      --stability-percentage "$stab" --max-trials 10 -f "$csv" >"$out" 2>&1
    rc=$?; set -e
    lend=$(uptime | sed 's/.*load average: //')
    log "$server batch $b concurrency $c load at end: $lend (rc $rc)"
    if [ "$rc" -eq 0 ] && [ -s "$csv" ]; then
      python3 - "$csv" "$server" "$b" "$c" "${lstart%%,*}" "${lend%%,*}" "$stab" >>"$SUMMARY" <<'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
print("\t".join([sys.argv[2], sys.argv[3], sys.argv[4], row["Inferences/Second"], row["p50 latency"],
                 row["p90 latency"], row["p99 latency"], sys.argv[5], sys.argv[6], sys.argv[7]]))
EOF
      return 0
    fi
    tail -n 3 "$out" >&2
  done
  printf '%s\t%s\t%s\tFAILED\t\t\t\t%s\t%s\t\n' "$server" "$b" "$c" "${lstart%%,*}" "${lend%%,*}" >>"$SUMMARY"
  echo "$server b$b c$c failed: $(tail -n 2 "$out" | tr '\n' ' ')" >>"$RESULTS_DIR/notes.txt"
}

wait_quiet
for r in "${RUNS[@]}"; do run_perf mlserver "$MLS_GRPC_PORT" "${r%%:*}" "${r##*:}"; done
kill -0 "$MLS_PID" 2>/dev/null || { log "MLServer died during the runs; see $RESULTS_DIR/mlserver.log"; exit 1; }
MLS_RSS_END=$(rss_kib "$MLS_PID")
stop_pid "$MLS_PID"

start_ours; wait_ready "$OURS_PORT" leadscore-server "$OURS_PID"
wait_quiet
for r in "${RUNS[@]}"; do run_perf leadscore "$OURS_PORT" "${r%%:*}" "${r##*:}"; done
kill -0 "$OURS_PID" 2>/dev/null || { log "leadscore-server died during the runs; see $RESULTS_DIR/leadscore.log"; exit 1; }
OURS_RSS_END=$(rss_kib "$OURS_PID")
stop_pid "$OURS_PID"

# --- 5. report --------------------------------------------------------------------
python3 - "$SUMMARY" "$OURS_RSS_END" "$MLS_RSS_END" "$OURS_RSS_IDLE" "$MLS_RSS_IDLE" \
  "$RESULTS_DIR" "$(nproc)" "$(uname -srm)" >"$RESULTS_DIR/results.md" <<'EOF'
import csv, sys
from pathlib import Path
summary, ours_rss, mls_rss, ours_idle, mls_idle, results, ncpu, uname = sys.argv[1:]
res = Path(results)
rows = {}
for r in csv.DictReader(open(summary), delimiter="\t"):
    rows[(r["server"], int(r["batch"]), int(r["concurrency"]))] = r
def f(v):
    try: return float(v)
    except (TypeError, ValueError): return None
def num(v, nd=0):
    return "n/a" if v is None else f"{v:,.{nd}f}"
def ms(v):
    return "n/a" if v is None else f"{v / 1000:.2f}"
def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.1f}x"
print("# leadscore-server vs MLServer (scikit-learn), perf_analyzer over KServe V2 gRPC\n")
print(f"Machine: {ncpu} CPUs, {uname}; loopback; synchronous perf_analyzer requests.")
for name in ("prepare.txt", "agreement.txt"):
    p = res / name
    if p.exists():
        for line in p.read_text().splitlines():
            if line.strip(): print(f"- {line.strip()}")
print()
print("| batch | conc | leadscore req/s | MLServer req/s | leadscore rows/s | MLServer rows/s | ratio | "
      "leadscore p50 / p90 / p99 ms | MLServer p50 / p90 / p99 ms | p50 ratio (MLS/ours) | load start→end (ours; MLS) |")
print("|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|")
keys = sorted({(b, c) for (_, b, c) in rows}, key=lambda k: (k[0], k[1]))
for b, c in keys:
    o, m = rows.get(("leadscore", b, c), {}), rows.get(("mlserver", b, c), {})
    oi, mi = f(o.get("infer_per_s")), f(m.get("infer_per_s"))
    orq = None if oi is None else oi / b
    mrq = None if mi is None else mi / b
    lat = lambda r: " / ".join(ms(f(r.get(k))) for k in ("p50_us", "p90_us", "p99_us"))
    print(f"| {b} | {c} | {num(orq)} | {num(mrq)} | {num(oi)} | {num(mi)} | {ratio(oi, mi)} | {lat(o)} | {lat(m)} | "
          f"{ratio(f(m.get('p50_us')), f(o.get('p50_us')))} | {o.get('load_start','?')}→{o.get('load_end','?')}; "
          f"{m.get('load_start','?')}→{m.get('load_end','?')} |")
print()
print("perf_analyzer's infer/s counts rows (requests x batch): rows/s = infer/s, req/s = infer/s / batch.")
print("ratio = leadscore / MLServer throughput; p50 ratio = MLServer p50 / leadscore p50.\n")
kib = lambda v: f"{int(v) / 1024:.1f} MiB" if v.isdigit() else "n/a"
print(f"Resident memory (VmRSS): leadscore-server {kib(ours_rss)} at the end ({kib(ours_idle)} idle after load); "
      f"MLServer {kib(mls_rss)} at the end ({kib(mls_idle)} idle), one process (parallel_workers 0).")
notes = res / "notes.txt"
if notes.exists():
    print("\nNotes:\n" + "".join(f"- {l}\n" for l in notes.read_text().splitlines()))
EOF
# --- 6. server CPU per request (utime+stime, the client's left out) --------------
# The same model and rows, one tritonclient client for both servers, c = 1, 4, 16
# at batch 1 and 100 (scripts/peer_cpu.py starts its own servers on free ports).
log "server CPU per request, both servers (scripts/peer_cpu.py)"
{
  echo
  echo "Server CPU (utime+stime) per request, same tritonclient client, servers alternating:"
  echo
  "$MLS_PY" "$ROOT/scripts/peer_cpu.py" "$WORK_DIR" --server "$BIN/leadscore-server" 2>>"$RESULTS_DIR/peer_cpu.log"
} >>"$RESULTS_DIR/results.md"
cat "$RESULTS_DIR/results.md"
log "results in $RESULTS_DIR (results.md, summary.tsv, raw/), work dir $WORK_DIR"
