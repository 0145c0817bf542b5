#!/usr/bin/env bash
# Soak test: the release leadscore-server under steady load for minutes while
# new model versions are published every few seconds (every 5th one broken).
#
# usage: scripts/soak.sh            (from anywhere; ~10 minutes by default)
#
#   SOAK_SECONDS=600     how long the load runs
#   RELOAD_EVERY=3       publish a new version this often (seconds)
#   BROKEN_EVERY=5       every Nth publication is a garbage model.json (0 = never)
#   RSS_EVERY=10         sample the server's /proc/PID/status this often
#   SCRAPE_EVERY=15      scrape /metrics this often, as Prometheus would (0 = never;
#                        see "Scraping" below)
#   PRUNE_KEEP=0         after each publication delete all but the newest N version
#                        directories on disk (0 = keep them all, like the documented
#                        procedure); a diagnostic for growth that follows the number
#                        of versions on disk rather than the number loaded
#   WARMUP=30            the RSS "start" value is the first sample at or after this
#   CONCURRENCY=8 BATCH=10 CONNECTIONS=4 REPORT_EVERY=30   load generator settings
#   RSS_TOLERANCE_KIB=8192 RSS_TOLERANCE_PCT=20
#                        RSS growth (end - start) above both of these fails the run
#   RESULTS_DIR=/tmp/leadscore-soak-<timestamp>
#   CARGO_TARGET_DIR=/tmp/soak-target   SKIP_BUILD=1 reuses the binaries there
#
# What it does: builds leadscore-server and the loadgen example (release),
# copies the repository's models/ to a temporary directory, starts the server
# on 127.0.0.1 with OS-chosen ports (read back from its "listening" log lines),
# waits until /metrics answers, then runs in parallel
#   - loadgen --concurrency 8 --batch 10 --seconds $SOAK_SECONDS
#     --report-every 30 --fail-on-error (one latency line per window),
#   - a publisher: every $RELOAD_EVERY s copies model.json into a hidden
#     directory models/<model>/.<n> and renames it to <n> (the documented way);
#     every $BROKEN_EVERY-th time the file is garbage JSON, which must be refused,
#   - an RSS sampler writing rss.csv, and a /metrics scraper writing scrapes.csv.
# Then it SIGTERMs the server, checks it exits 0, and prints a summary. Exit
# status: 0 when there were no request errors, every broken artifact was
# refused, every good one loaded, the server exited 0, and RSS stayed flat.
#
# Scraping: the server's Prometheus recorder keeps every histogram sample
# (one per request, one per lead scored) until /metrics is rendered, since no
# upkeep task runs; a server nobody scrapes grows without bound (measured
# ~1.6 MiB/s at 90,000 leads/s), and between scrapes RSS carries up to
# SCRAPE_EVERY seconds of samples. SCRAPE_EVERY=0 shows it.
#
# Results (all raw outputs) go to $RESULTS_DIR: build.log, server.log (JSON),
# loadgen.txt, publish.csv, loaded.tsv, rss.csv, scrapes.csv, metrics-final.txt,
# uptime-{start,end}.txt, ps-{start,end}.txt, summary.txt.
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root="$PWD"

SOAK_SECONDS="${SOAK_SECONDS:-600}"
RELOAD_EVERY="${RELOAD_EVERY:-3}"
BROKEN_EVERY="${BROKEN_EVERY:-5}"
RSS_EVERY="${RSS_EVERY:-10}"
SCRAPE_EVERY="${SCRAPE_EVERY:-15}"
PRUNE_KEEP="${PRUNE_KEEP:-0}"
WARMUP="${WARMUP:-30}"
CONCURRENCY="${CONCURRENCY:-8}"
BATCH="${BATCH:-10}"
CONNECTIONS="${CONNECTIONS:-4}"
REPORT_EVERY="${REPORT_EVERY:-30}"
RSS_TOLERANCE_KIB="${RSS_TOLERANCE_KIB:-8192}"
RSS_TOLERANCE_PCT="${RSS_TOLERANCE_PCT:-20}"
RESULTS_DIR="${RESULTS_DIR:-/tmp/leadscore-soak-$(date -u +%Y%m%dT%H%M%SZ)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/soak-target}"

for tool in curl jq awk; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is required" >&2; exit 2; }
done

mkdir -p "$RESULTS_DIR"
results="$(cd "$RESULTS_DIR" && pwd)"
log() { echo "[soak $(date -u +%H:%M:%S)] $*"; }
now() { date +%s.%N; }
snapshot_machine() { # $1 = start | end
  uptime >"$results/uptime-$1.txt"
  ps -eo pid,pcpu,pmem,etime,comm --sort=-pcpu | head -15 >"$results/ps-$1.txt"
}

# ---------------------------------------------------------------- processes
work="$(mktemp -d /tmp/leadscore-soak-work.XXXXXX)"
stop_flag="$work/stop"
server_pid="" loadgen_pid="" tail_pid="" publisher_pid="" sampler_pid="" scraper_pid=""

cleanup() {
  local rc=$?
  touch "$stop_flag" 2>/dev/null || true
  for pid in $loadgen_pid $tail_pid $publisher_pid $sampler_pid $scraper_pid; do
    kill "$pid" 2>/dev/null || true
  done
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

snapshot_machine start
log "results in $results"
log "machine: $(cat "$results/uptime-start.txt")"

# ---------------------------------------------------------------- build
bin="$CARGO_TARGET_DIR/release"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "building release binaries into $CARGO_TARGET_DIR (log: build.log)"
  if ! cargo build --release --bin leadscore-server --bin leadscore-train --example loadgen \
      >"$results/build.log" 2>&1; then
    tail -30 "$results/build.log" >&2
    echo "soak: build failed" >&2
    exit 1
  fi
fi
for f in "$bin/leadscore-server" "$bin/examples/loadgen"; do
  [[ -x "$f" ]] || { echo "soak: $f missing (build first or unset SKIP_BUILD)" >&2; exit 1; }
done

# ---------------------------------------------------------------- model repository
models="$work/models"
cp -r "$repo_root/models" "$models"
model="$(find "$models" -mindepth 2 -maxdepth 2 -type d -regex '.*/[0-9]+$' \
  | sed 's#^.*/models/##; s#/.*##' | sort | head -1)"
[[ -n "$model" ]] || { echo "soak: no model version under models/" >&2; exit 1; }
base_version="$(ls "$models/$model" | grep -E '^[0-9]+$' | sort -n | tail -1)"
artifact="$work/model.json" # a copy: PRUNE_KEEP may delete the version it came from
cp "$models/$model/$base_version/model.json" "$artifact"
log "model $model, serving version $base_version; publishing copies of its model.json"

# ---------------------------------------------------------------- server
"$bin/leadscore-server" --grpc-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
  --models "$models" --log-format json --log-level info \
  >"$results/server.log" 2>&1 &
server_pid=$!

log_field() { # $1 = message, $2 = field: the field of the first such JSON log line
  jq -Rr --arg m "$1" --arg f "$2" 'fromjson? | select(.message == $m) | .[$f]' \
    "$results/server.log" | head -1
}
grpc_addr="" metrics_addr=""
for _ in $(seq 1 300); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$results/server.log" >&2; echo "soak: server exited" >&2; exit 1; }
  grpc_addr="$(log_field "leadscore-server listening" addr)"
  metrics_addr="$(log_field "metrics listening on /metrics" addr)"
  [[ -n "$grpc_addr" && -n "$metrics_addr" ]] && break
  sleep 0.1
done
[[ -n "$grpc_addr" && -n "$metrics_addr" ]] || { echo "soak: server did not log its addresses" >&2; exit 1; }
metrics_url="http://$metrics_addr/metrics"
until curl -fsS -o /dev/null "$metrics_url"; do
  kill -0 "$server_pid" 2>/dev/null || { echo "soak: server exited" >&2; exit 1; }
  sleep 0.2
done
log "server pid $server_pid: gRPC $grpc_addr, metrics $metrics_url"

# ---------------------------------------------------------------- load, reloads, sampling
t0="$(now)"
elapsed() { awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }'; }
stopping() { [[ -e "$stop_flag" ]]; }

: >"$results/loadgen.txt" # exists before tail follows it
"$bin/examples/loadgen" --addr "http://$grpc_addr" --concurrency "$CONCURRENCY" \
  --batch "$BATCH" --connections "$CONNECTIONS" --seconds "$SOAK_SECONDS" \
  --report-every "$REPORT_EVERY" --fail-on-error >>"$results/loadgen.txt" 2>&1 &
loadgen_pid=$!
tail -n +1 -f --pid="$loadgen_pid" "$results/loadgen.txt" &
tail_pid=$!

sample_rss() {
  local status cpu
  status="$(cat "/proc/$server_pid/status" 2>/dev/null)" || return 0
  cpu="$(awk '{ sub(/^.*\) /, ""); split($0, f, " "); printf "%.2f", (f[12] + f[13]) / 100 }' \
    "/proc/$server_pid/stat" 2>/dev/null || echo "")"
  printf '%s,%s,%s,%s,%s,%s,%s\n' "$(elapsed)" "$(date -u +%H:%M:%S)" \
    "$(awk '/^VmRSS:/ { print $2 }' <<<"$status")" "$(awk '/^VmHWM:/ { print $2 }' <<<"$status")" \
    "$(awk '/^Threads:/ { print $2 }' <<<"$status")" \
    "$(ls "/proc/$server_pid/fd" 2>/dev/null | wc -l)" "$cpu"
}
echo "elapsed_s,utc,vmrss_kib,vmhwm_kib,threads,fds,cpu_s" >"$results/rss.csv"
(
  while ! stopping; do
    sample_rss >>"$results/rss.csv"
    sleep "$RSS_EVERY"
  done
) &
sampler_pid=$!

echo "elapsed_s,bytes,lines,series_with_version,models_loaded,process_rss_bytes,scrape_ms" >"$results/scrapes.csv"
if [[ "$SCRAPE_EVERY" != 0 ]]; then
  (
    while sleep "$SCRAPE_EVERY" && ! stopping; do
      started="$(now)"
      page="$(curl -fsS --max-time 10 "$metrics_url" 2>/dev/null)" || continue
      ms="$(awk -v a="$(now)" -v b="$started" 'BEGIN { printf "%.1f", (a - b) * 1000 }')"
      awk -v t="$(elapsed)" -v bytes="${#page}" -v ms="$ms" '
        !/^#/ { lines++ } /version="/ { versioned++ }
        /^leadscore_models_loaded / { loaded = $2 }
        /^process_resident_memory_bytes / { rss = $2 }
        END { printf "%s,%d,%d,%d,%s,%s,%s\n", t, bytes, lines, versioned, loaded, rss, ms }' \
        <<<"$page" >>"$results/scrapes.csv"
    done
  ) &
  scraper_pid=$!
fi

echo "seq,version,kind,epoch_s" >"$results/publish.csv"
(
  n="$base_version" i=0
  while ! stopping; do
    i=$((i + 1))
    # Fixed schedule, so slow copies do not stretch the interval.
    target="$(awk -v t0="$t0" -v i="$i" -v e="$RELOAD_EVERY" 'BEGIN { printf "%.3f", t0 + i * e }')"
    if awk -v t="$target" -v t0="$t0" -v s="$SOAK_SECONDS" 'BEGIN { exit !(t > t0 + s - 1) }'; then
      break
    fi
    delay="$(awk -v t="$target" -v n="$(now)" 'BEGIN { d = t - n; printf "%.3f", (d > 0 ? d : 0) }')"
    sleep "$delay"
    stopping && break
    n=$((n + 1))
    hidden="$models/$model/.$n"
    mkdir "$hidden"
    if [[ "$BROKEN_EVERY" != 0 ]] && ((i % BROKEN_EVERY == 0)); then
      kind=broken
      printf '{"format_version": 1, "features": [garbage\n' >"$hidden/model.json"
    else
      kind=good
      cp "$artifact" "$hidden/model.json"
    fi
    mv "$hidden" "$models/$model/$n"
    echo "$i,$n,$kind,$(now)" >>"$results/publish.csv"
    if ((PRUNE_KEEP > 0)); then
      find "$models/$model" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9]+$' -printf '%f\n' \
        | sort -n | head -n "-$PRUNE_KEEP" | while read -r old; do rm -rf "${models:?}/$model/$old"; done
    fi
  done
) &
publisher_pid=$!

loadgen_rc=0
wait "$loadgen_pid" || loadgen_rc=$?
loadgen_pid=""
wait "$tail_pid" 2>/dev/null || true
tail_pid=""
log "load generator exited $loadgen_rc; stopping the publisher and samplers"
touch "$stop_flag"
publisher_rc=0
wait "$publisher_pid" || publisher_rc=$?
publisher_pid=""
sample_rss >>"$results/rss.csv" # the end value, under the same conditions as the others
for pid in $sampler_pid $scraper_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
sampler_pid="" scraper_pid=""
sleep 1 # let the last publication's reload (200 ms debounce) finish
curl -fsS --max-time 10 "$metrics_url" >"$results/metrics-final.txt" || log "final /metrics scrape failed"
hwm_kib="$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || echo "?")"

# ---------------------------------------------------------------- shutdown
log "SIGTERM to the server"
kill -TERM "$server_pid" 2>/dev/null || log "the server had already exited"
server_rc=0
wait "$server_pid" || server_rc=$?
server_pid=""
snapshot_machine end

# ---------------------------------------------------------------- summary
mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == "?") print "?"; else printf "%.1f MiB", k / 1024 }'; }
read -r rss_idle rss_start rss_start_t rss_end rss_end_t rss_max rss_slope < <(awk -F, -v w="$WARMUP" '
  NR == 1 { next }
  { n++; t[n] = $1; r[n] = $3 }
  END {
    idle = r[1]; s = 0
    for (i = 1; i <= n; i++) if (t[i] >= w) { s = i; break }
    if (!s) s = n
    max = 0
    for (i = s; i <= n; i++) { if (r[i] > max) max = r[i]; k++; sx += t[i]; sy += r[i]; sxx += t[i] * t[i]; sxy += t[i] * r[i] }
    d = k * sxx - sx * sx
    slope = (k > 1 && d != 0) ? (k * sxy - sx * sy) / d * 60 : 0
    printf "%s %s %s %s %s %s %.1f\n", idle, r[s], t[s], r[n], t[n], max, slope
  }' "$results/rss.csv")

published_good="$(awk -F, '$3 == "good"' "$results/publish.csv" | wc -l)"
published_broken="$(awk -F, '$3 == "broken"' "$results/publish.csv" | wc -l)"
refused_lines="$(grep -c '"model refused"' "$results/server.log" || true)"
loaded_lines="$(grep -c '"model version loaded"' "$results/server.log" || true)"
unloaded_lines="$(grep -c '"model version unloaded"' "$results/server.log" || true)"
[[ -s "$results/metrics-final.txt" ]] || echo "# the final scrape failed" >"$results/metrics-final.txt"
metric() { # sum of every series of a metric in the final scrape (a counter never incremented is absent: 0)
  awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%.0f\n", s }' "$results/metrics-final.txt"
}
loads_total="$(metric leadscore_model_loads_total)"
load_failures="$(metric leadscore_model_load_failures_total)"
models_loaded="$(metric leadscore_models_loaded)"
server_requests="$(metric leadscore_requests_total)"
server_not_ok="$(awk '/^leadscore_requests_total\{/ && !/code="OK"/ { s += $NF } END { printf "%.0f\n", s }' "$results/metrics-final.txt")"
metrics_bytes="$(wc -c <"$results/metrics-final.txt")"
metrics_versioned="$(grep -c 'version="' "$results/metrics-final.txt" || true)"
read -r lg_requests lg_errors < <(awk '/^total:/ { print $2, $4 } END { if (!NR) print "? ?" }' "$results/loadgen.txt" | tail -1)
[[ -n "${lg_requests:-}" ]] || { lg_requests="?"; lg_errors="?"; }

# Publish-to-serve delay: publication time vs the server's "model version loaded" log line.
jq -Rr --arg model "$model" 'fromjson? | select(.message == "model version loaded" and .model == $model)
  | (.timestamp | capture("^(?<s>[^.Z]+)(?<f>\\.[0-9]+)?Z$")) as $t
  | "\(.version)\t\((($t.s + "Z") | fromdateiso8601) + (("0" + ($t.f // "")) | tonumber))"' \
  "$results/server.log" >"$results/loaded.tsv"
delay_stats="$(awk -F'[,\t]' '
  FNR == NR { loaded[$1] = $2; next }
  FNR > 1 && $3 == "good" && ($2 in loaded) { n++; d[n] = (loaded[$2] - $4) * 1000 }
  FNR > 1 && $3 == "good" && !($2 in loaded) { missing++ }
  END {
    if (!n) { print "none measured"; exit }
    q = int(n / 4); if (q < 1) q = 1
    for (i = 1; i <= q; i++) first += d[i]; for (i = n - q + 1; i <= n; i++) last += d[i]
    for (i = 1; i <= n; i++) { # insertion sort (mawk has no asort)
      v = d[i]; for (j = i - 1; j >= 1 && s[j] > v; j--) s[j + 1] = s[j]; s[j + 1] = v
    }
    printf "median %.0f ms, p90 %.0f ms, max %.0f ms; mean of first quarter %.0f ms, last quarter %.0f ms", s[int((n + 1) / 2)], s[int(0.9 * (n - 1)) + 1], s[n], first / q, last / q
    if (missing) printf "; %d good versions never logged as loaded", missing
  }' "$results/loaded.tsv" "$results/publish.csv")"

growth_kib=$((rss_end - rss_start))
allowed_kib="$(awk -v s="$rss_start" -v k="$RSS_TOLERANCE_KIB" -v p="$RSS_TOLERANCE_PCT" 'BEGIN { a = s * p / 100; printf "%d", (a > k ? a : k) }')"

problems=()
[[ "$loadgen_rc" == 0 ]] || problems+=("load generator exited $loadgen_rc")
[[ "$lg_errors" == 0 ]] || problems+=("request errors: $lg_errors")
[[ "$publisher_rc" == 0 ]] || problems+=("the publisher failed (exit $publisher_rc)")
[[ "$server_rc" == 0 ]] || problems+=("server exited $server_rc after SIGTERM")
[[ "$refused_lines" == "$published_broken" ]] || problems+=("$published_broken broken artifacts published, $refused_lines \"model refused\" lines")
[[ "$load_failures" == "$published_broken" ]] || problems+=("leadscore_model_load_failures_total $load_failures, expected $published_broken")
[[ "$loads_total" == "$((published_good + 1))" ]] || problems+=("leadscore_model_loads_total $loads_total, expected $((published_good + 1)) (startup + good publications)")
((growth_kib <= allowed_kib)) || problems+=("RSS grew $(mib "$growth_kib") after warm-up (allowed $(mib "$allowed_kib"))")

{
  echo
  echo "================ leadscore soak summary ================"
  echo "results:        $results"
  echo "settings:       ${SOAK_SECONDS}s load, concurrency $CONCURRENCY, batch $BATCH, $CONNECTIONS connections;"
  echo "                a version every ${RELOAD_EVERY}s (every ${BROKEN_EVERY}th broken); /metrics scraped every ${SCRAPE_EVERY}s (0 = never)"
  if ((PRUNE_KEEP > 0)); then echo "                old version directories pruned to the newest $PRUNE_KEEP"; fi
  echo "machine start:  $(cat "$results/uptime-start.txt")"
  echo "machine end:    $(cat "$results/uptime-end.txt")"
  echo "RSS:            idle before load $(mib "$rss_idle"); start (t=${rss_start_t}s) $(mib "$rss_start"); end (t=${rss_end_t}s) $(mib "$rss_end");"
  echo "                max sampled after warm-up $(mib "$rss_max"); VmHWM $(mib "$hwm_kib"); trend after warm-up ${rss_slope} KiB/min"
  echo "reloads:        $((published_good + published_broken)) published ($published_good good, $published_broken broken);"
  echo "                server log: $loaded_lines loaded, $unloaded_lines unloaded, $refused_lines \"model refused\""
  echo "/metrics:       leadscore_model_loads_total $loads_total (incl. startup), leadscore_model_load_failures_total $load_failures,"
  echo "                leadscore_models_loaded $models_loaded, requests_total $server_requests (not OK: $server_not_ok);"
  echo "                final page $metrics_bytes bytes, $metrics_versioned lines with a version label"
  echo "publish→serve:  $delay_stats"
  echo "requests:       $lg_requests sent by loadgen, $lg_errors errors (loadgen exit $loadgen_rc)"
  echo "server exit:    $server_rc after SIGTERM"
  echo "latency per window:"
  grep -E '^(window|error|concurrency|[[:space:]]+[0-9]+ )' "$results/loadgen.txt" | sed 's/^/  /'
  if ((${#problems[@]})); then
    echo "RESULT: FAIL"
    printf '  - %s\n' "${problems[@]}"
  else
    echo "RESULT: PASS"
  fi
  echo "results in $results"
} | tee "$results/summary.txt"

((${#problems[@]} == 0))
