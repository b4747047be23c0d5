#!/usr/bin/env bash
# Load and query benchmark for Telltale, on loopback only, bounded in time.
#
#   bash bench/run.sh            # defaults: 20s per load phase, 10M stored records
#   PHASE=10s TOTAL=2000000 bash bench/run.sh
#
# It builds telltale, starts it on a fresh data directory, and reports:
# accepted log records/s and spans/s (acknowledged only after commit) over
# OTLP/HTTP and OTLP/gRPC, peak RSS, bytes on disk per record, and the
# latency of trace-by-id, a needle log search and the services overview
# once TOTAL records are stored. Results go to bench/out/results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

PHASE=${PHASE:-20s}
TOTAL=${TOTAL:-10000000}
CONC=${CONC:-8}
OUT=bench/out
P_GRPC=${P_GRPC:-24317} P_HTTP=${P_HTTP:-24318} P_UI=${P_UI:-24320}

rm -rf "$OUT" && mkdir -p "$OUT"
go build -o "$OUT/telltale" ./cmd/telltale
go build -o "$OUT/loadgen" ./bench/loadgen

"$OUT/telltale" serve --data-dir "$OUT/data" --log-level warn \
  --otlp-grpc-addr "127.0.0.1:$P_GRPC" --otlp-http-addr "127.0.0.1:$P_HTTP" --http-addr "127.0.0.1:$P_UI" \
  2>"$OUT/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$P_UI/readyz" >/dev/null && break; sleep 0.1; done

report() { echo "$*" | tee -a "$OUT/results.txt"; }
load() { # signal transport [extra loadgen flags]
  local sig=$1 tr=$2; shift 2
  "$OUT/loadgen" -signal "$sig" -transport "$tr" -http "127.0.0.1:$P_HTTP" -grpc "127.0.0.1:$P_GRPC" \
    -concurrency "$CONC" "$@"
}

report "# Telltale load benchmark $(date -u +%FT%TZ), $(nproc) cores, phases of $PHASE, concurrency $CONC"
stored=0
for sig in logs spans; do
  for tr in http grpc; do
    r=$(load $sig $tr -duration "$PHASE")
    report "load $sig over $tr: $r"
    stored=$((stored + $(echo "$r" | sed -E 's/.*"accepted_records":([0-9]+).*/\1/')))
  done
done
report "peak RSS under load: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MB"}')"

# Fill up to TOTAL records, 60% logs and 40% spans, then measure queries.
NEEDLE="needle-$RANDOM$RANDOM"
rest=$((TOTAL - stored))
if [ $rest -lt 10000 ]; then rest=10000; fi
load logs http -duration 30m -records $((rest * 6 / 10)) -needle "$NEEDLE" >/dev/null
load spans grpc -duration 30m -records $((rest * 4 / 10)) -trace-ids "$OUT/trace-ids.json" >/dev/null
count() { curl -sf "http://127.0.0.1:$P_UI/metrics" | awk -v m="$1" '$1 ~ "^telltale_commit_records_total\\{signal=\""m"\"" {print $2}'; }
nlogs=$(count logs); nspans=$(count spans)
report "stored: $nlogs logs, $nspans spans"
bytes=$(du -sb "$OUT/data" | cut -f1)
report "bytes on disk: $bytes ($(awk -v b=$bytes -v n=$((nlogs + nspans)) 'BEGIN{printf "%.1f", b/n}') bytes per record)"

timeit() { # name url: median of 10 runs, after one warm-up
  curl -sf -o /dev/null "$2" || { report "$1: request failed: $2"; return; }
  local ts=()
  for _ in $(seq 10); do ts+=("$(curl -sf -o /dev/null -w '%{time_total}' "$2")"); done
  report "$1: median $(printf '%s\n' "${ts[@]}" | sort -n | sed -n 5p | awk '{printf "%.1f ms", $1*1000}')"
}
TRACE=$(sed -E 's/^\["([0-9a-f]+)".*/\1/' "$OUT/trace-ids.json")
API="http://127.0.0.1:$P_UI/api/v1"
timeit "trace by id" "$API/traces/$TRACE"
timeit "needle log search" "$API/logs?q=%22$NEEDLE%22&from=now-6h&limit=50"
timeit "services overview" "$API/services?from=now-1h"
report "peak RSS overall: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MB"}')"
