#!/usr/bin/env bash
# Metrics benchmark for Telltale, on loopback only, bounded in time.
#
#   bash bench/metrics.sh                 # defaults: 20s phases, a day of 10,000 series
#   PHASE=10s STATSD_RATES="0 300000" bash bench/metrics.sh
#   BIN=/tmp/old-telltale FILL=0 bash bench/metrics.sh   # another binary, queries only, on the data of the last run
#
# It builds telltale and bench/loadgen, starts the server on a fresh data
# directory (ports 24517-24525, distinct from run.sh's and sentry.sh's) and
# reports:
#
#  1. StatsD: counter lines in UDP packets of up to 1432 bytes for PHASE, at
#     each rate of STATSD_RATES (lines/s; 0 sends as fast as it can): lines
#     sent, and lines ingested, the sum of the counter once flushed (UDP
#     loses what the kernel cannot buffer; the difference is the loss).
#  2. OTLP metric points/s accepted (answered after the commit) over HTTP and
#     gRPC for PHASE each, CONC senders, 1000 points per request (40%
#     counters, 40% gauges, 20% histograms).
#  3. A fill of DAY (24h) of one-a-minute cumulative counters for SERIES
#     series (10 metrics × 10 services × SERIES/100 routes: 14.4M points),
#     then the median of RUNS query_range calls over that day at a 5-minute
#     step: rate summed over 1,000 series, over 100, and over all of them.
#  4. Peak RSS of the server.
#
# Results go to bench/out/metrics/results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

PHASE=${PHASE:-20s}
CONC=${CONC:-8}
SERIES=${SERIES:-10000}
DAY=${DAY:-24h}
RUNS=${RUNS:-5}
FILL=${FILL:-1}
STATSD_RATES=${STATSD_RATES:-"0 500000 1000000 1500000"}
OUT=bench/out/metrics
DATA=${DATA:-$OUT/data}
P_GRPC=${P_GRPC:-24517} P_HTTP=${P_HTTP:-24518} P_UI=${P_UI:-24520} P_STATSD=${P_STATSD:-24525}

mkdir -p "$OUT"
rm -f "$OUT/results.txt"
if [ "$FILL" = 1 ]; then rm -rf "$DATA"; fi
BIN=${BIN:-}
if [ -z "$BIN" ]; then
  BIN=$OUT/telltale
  go build -o "$BIN" ./cmd/telltale
fi
go build -o "$OUT/loadgen" ./bench/loadgen

"$BIN" serve --data-dir "$DATA" --log-level warn --statsd-flush-interval 1s \
  --otlp-grpc-addr "127.0.0.1:$P_GRPC" --otlp-http-addr "127.0.0.1:$P_HTTP" --http-addr "127.0.0.1:$P_UI" \
  --statsd-addr "127.0.0.1:$P_STATSD" 2>"$OUT/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$P_UI/readyz" >/dev/null && break; sleep 0.1; done

API="http://127.0.0.1:$P_UI/api/v1"
report() { echo "$*" | tee -a "$OUT/results.txt"; }
field() { echo "$1" | sed -E "s/.*\"$2\":([0-9.]+).*/\1/"; }
report "# Telltale metrics benchmark $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), binary $BIN"

if [ "$FILL" = 1 ]; then
  # 1. StatsD over UDP.
  for rate in $STATSD_RATES; do
    from=$(date +%s%3N)
    r=$("$OUT/loadgen" -signal statsd -statsd "127.0.0.1:$P_STATSD" -duration "$PHASE" -concurrency 2 -rate "$rate")
    sleep 3 # the last flush (1s) and its commit
    to=$(date +%s%3N)
    got=$(curl -sf "$API/metrics/query?name=bench.statsd.lines&agg=sum&step=1h&from=$from&to=$to" |
      grep -o '"value":[0-9.e+]*' | awk -F: '{s += $2} END {printf "%d", s}')
    sent=$(field "$r" lines_sent)
    secs=$(field "$r" seconds)
    report "statsd at $rate lines/s (0: unpaced): $r"
    report "statsd ingested: $got of $sent lines, $(awk -v g="$got" -v s="$secs" 'BEGIN {printf "%d", g/s}') lines/s, loss $(awk -v g="$got" -v n="$sent" 'BEGIN {printf "%.2f", 100*(1-g/n)}')%"
  done

  # 2. OTLP metric points.
  for tr in http grpc; do
    r=$("$OUT/loadgen" -signal metrics -transport "$tr" -http "127.0.0.1:$P_HTTP" -grpc "127.0.0.1:$P_GRPC" \
      -concurrency "$CONC" -duration "$PHASE")
    report "OTLP metric points over $tr: $r"
  done
  report "peak RSS under load: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MB"}')"

  # 3. A day of counters, into the past.
  date +%s >"$OUT/fill-end"
  r=$("$OUT/loadgen" -signal metrics -backfill "$DAY" -series "$SERIES" -transport grpc -grpc "127.0.0.1:$P_GRPC" \
    -concurrency 4 -duration 60m)
  report "fill: $r"
fi

END=$(cat "$OUT/fill-end")
END=$((END / 60 * 60))
START=$((END - $(echo "$DAY" | sed -E 's/h$//') * 3600))
timeit() { # name query: median of RUNS query_range calls, after one warm-up
  local args=(--data-urlencode "query=$2" --data-urlencode "start=$START" --data-urlencode "end=$END" --data-urlencode "step=300")
  local body
  body=$(curl -sf "$API/query_range" "${args[@]}") || { report "$1: request failed"; return; }
  local n
  n=$(echo "$body" | grep -o '"metric"' | wc -l)
  local ts=()
  for _ in $(seq "$RUNS"); do ts+=("$(curl -sf -o /dev/null -w '%{time_total}' "$API/query_range" "${args[@]}")"); done
  report "query_range $1 ($n result series): median $(printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p" | awk '{printf "%.2f s", $1}') of $RUNS"
}
timeit "sum by service of rate over 1,000 series" 'sum by (service_name) (rate(bench_requests_0_total[5m]))'
timeit "sum by route of rate over 100 series" 'sum by (route) (rate(bench_requests_0_total{service_name="svc-3"}[5m]))'
timeit "sum of rate over all $SERIES series" 'sum(rate({__name__=~"bench_requests_.*"}[5m]))'
report "peak RSS overall: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MB"}')"
