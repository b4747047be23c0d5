#!/usr/bin/env bash
# Sentry error-event benchmark for Telltale, on loopback only, bounded in time.
#
#   bash bench/sentry.sh             # defaults: 20s phase at 16 senders, 1M stored events
#   PHASE=10s TOTAL=200000 FILL_LIMIT=5m bash bench/sentry.sh
#   SERVER_SRC=../other-checkout bash bench/sentry.sh   # benchmark another tree's server
#
# It builds telltale and bench/loadgen, starts the server on a fresh data
# directory (ports distinct from run.sh's), and reports:
#
#  1. events/s accepted through the envelope endpoint (2xx only, sent after
#     the commit) with sentry-go-shaped envelopes, one event per request,
#     drawn from 200 bugs (so grouping makes about 200 issues), p50/p99
#     request latency, and peak RSS;
#  2. a CPU profile of the server under the same load (bench/out/sentry/cpu.pprof);
#  3. a fill up to TOTAL stored events at FILL_CONC senders (more than
#     CONC, as one event per request needs many in flight to fill fast),
#     their times spread over SPREAD before now, stopped after FILL_LIMIT
#     whatever it stored; then the median of 10 calls of the issue list
#     (default 14-day range, by count, one environment), the biggest issue,
#     its events and one event.
#
# Results go to bench/out/sentry-results.txt; the work files (binaries, data,
# logs, profile) to bench/out/sentry/.
set -euo pipefail
cd "$(dirname "$0")/.."

PHASE=${PHASE:-20s}
CONC=${CONC:-16}
TOTAL=${TOTAL:-1000000}
FILL_CONC=${FILL_CONC:-64}
FILL_LIMIT=${FILL_LIMIT:-15m}
SERVER_SRC=${SERVER_SRC:-.}
SPREAD=${SPREAD:-312h}        # 13 days: all in the issue list's default range
OUT=bench/out
WORK=$OUT/sentry
RES=$OUT/sentry-results.txt
P_GRPC=${P_GRPC:-24417} P_HTTP=${P_HTTP:-24418} P_UI=${P_UI:-24420}

rm -rf "$WORK" "$RES" && mkdir -p "$WORK"
(cd "$SERVER_SRC" && go build -o "$OLDPWD/$WORK/telltale" ./cmd/telltale)
go build -o "$WORK/loadgen" ./bench/loadgen

"$WORK/telltale" serve --data-dir "$WORK/data" --log-level warn \
  --otlp-grpc-addr "127.0.0.1:$P_GRPC" --otlp-http-addr "127.0.0.1:$P_HTTP" --http-addr "127.0.0.1:$P_UI" \
  2>"$WORK/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$P_UI/readyz" >/dev/null && break; sleep 0.1; done

report() { echo "$*" | tee -a "$RES"; }
rss() { grep VmHWM /proc/$PID/status | awk '{printf "%.0f MB", $2/1024}'; }
load() { # loadgen flags
  "$WORK/loadgen" -signal errors -http "127.0.0.1:$P_HTTP" -ui "127.0.0.1:$P_UI" "$@"
}
accepted() { echo "$1" | sed -E 's/.*"accepted_records":([0-9]+).*/\1/'; }

report "# Telltale Sentry benchmark $(date -u +%FT%TZ), $(nproc) cores, phase of $PHASE, concurrency $CONC"
r=$(load -concurrency "$CONC" -duration "$PHASE")
report "envelopes: $r"
report "peak RSS under load: $(rss)"
stored=$(accepted "$r")

# The same load again, profiled, so that the figure above is unaffected.
curl -sf -m 30 -o "$WORK/cpu.pprof" "http://127.0.0.1:$P_UI/debug/pprof/profile?seconds=10" &
PROF=$!
r=$(load -concurrency "$CONC" -duration 12s)
wait $PROF || report "profile failed"
report "profiled run: $r"
stored=$((stored + $(accepted "$r")))
go tool pprof -top -cum -nodecount=60 "$WORK/telltale" "$WORK/cpu.pprof" >"$WORK/cpu-top.txt" 2>&1 || true

# Fill up to TOTAL events; FILL_LIMIT bounds it.
rest=$((TOTAL - stored))
if [ $rest -gt 0 ]; then
  t0=$(date +%s)
  r=$(load -concurrency "$FILL_CONC" -duration "$FILL_LIMIT" -records "$rest" -spread "$SPREAD")
  report "fill: $r ($(($(date +%s) - t0)) s)"
fi
n=$(curl -sf "http://127.0.0.1:$P_UI/metrics" | awk '$1 ~ "^telltale_commit_records_total\\{signal=\"errors\"" {print $2}')
bytes=$(du -sb "$WORK/data" | cut -f1)
report "stored: $n events, $bytes bytes on disk ($(awk -v b="$bytes" -v n="$n" 'BEGIN{printf "%.0f", b/n}') bytes per event)"

timeit() { # name url: median of 10 runs, after one warm-up
  curl -sf -m 120 -o /dev/null "$2" || { report "$1: request failed: $2"; return; }
  local ts=()
  for _ in $(seq 10); do ts+=("$(curl -sf -m 120 -o /dev/null -w '%{time_total}' "$2")"); done
  report "$1: median $(printf '%s\n' "${ts[@]}" | sort -n | sed -n 5p | awk '{printf "%.1f ms", $1*1000}')"
}
API="http://127.0.0.1:$P_UI/api/v1"
list=$(curl -sf -m 120 "$API/issues?sort=count&limit=1")
ISSUE=$(echo "$list" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
report "issues: $(echo "$list" | grep -o '"total":[0-9]*' | cut -d: -f2) unresolved in 14 days; the biggest, $ISSUE, has $(echo "$list" | grep -o '"events":[0-9]*' | head -1 | cut -d: -f2) events"
EVENT=$(curl -sf -m 120 "$API/issues/$ISSUE/events?limit=1" | grep -o '"event_id":"[0-9a-f]*"' | head -1 | cut -d'"' -f4)
timeit "issue list, 14 days" "$API/issues"
timeit "issue list by count" "$API/issues?sort=count"
timeit "issue list, environment staging" "$API/issues?environment=staging"
timeit "issue $ISSUE" "$API/issues/$ISSUE"
timeit "events of issue $ISSUE" "$API/issues/$ISSUE/events"
timeit "event by id" "$API/events/$EVENT"
report "peak RSS overall: $(rss)"
