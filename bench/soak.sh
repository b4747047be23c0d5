#!/usr/bin/env bash
# Soak test for Telltale, on loopback only, bounded in time.
#
#   bash bench/soak.sh             # 3 minutes: 40% steady load, 30% overload, 30% recovery
#   bash bench/soak.sh 10m         # another duration
#   bash bench/soak.sh -short      # about 45 s
#   SERVER_FLAGS="--memory-budget 512MB" bash bench/soak.sh -short
#
# It builds telltale and bench/soak, starts the server on a fresh data
# directory, and runs the driver (bench/soak/run.go): OTLP/HTTP logs, spans
# and metric points, Sentry envelopes and StatsD lines, each record with a
# unique id; in the overload phase many senders of large bodies, as fast as
# the server answers. It reports per phase the records sent, acknowledged
# (200/202 only, minus an OTLP partial success's rejected count), refused
# by status code, p50/p99 latency, and the server's resident memory
# (sampled every second into bench/out/soak/rss.csv). Then it stops the
# server with SIGTERM, opens the data directory's DuckDB files and compares
# the stored records with the acknowledged ones, per signal and per
# request: it exits 1 when they differ (a record acknowledged and not
# stored, stored twice, or stored although refused).
#
# Credentials: when the server has --ingest-auth (ingest keys), the driver
# sends the first project's public key, read from GET /api/v1/projects; the
# script sets TELLTALE_ADMIN_PASSWORD so that the driver can log in and
# create an API token when the API needs one. INGEST_AUTH=0 starts the server
# with --ingest-auth=false instead. Flags the server does not have are not
# passed (the script reads `telltale serve -h`).
#
# Results go to bench/out/soak-results.txt; the work files (binaries, data,
# server log, rss.csv, requests.json) to bench/out/soak/.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-3m}
if [ "$DURATION" = "-short" ]; then DURATION=45s; fi
OUT=bench/out
WORK=$OUT/soak
RES=$OUT/soak-results.txt
P_GRPC=${P_GRPC:-24617} P_HTTP=${P_HTTP:-24618} P_UI=${P_UI:-24620} P_STATSD=${P_STATSD:-24625}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-soak-$RANDOM$RANDOM-password}
INGEST_AUTH=${INGEST_AUTH:-1}
MEMORY_BUDGET=${MEMORY_BUDGET:-}

rm -rf "$WORK" "$RES" && mkdir -p "$WORK"
go build -o "$WORK/telltale" ./cmd/telltale
go build -o "$WORK/soak" ./bench/soak

help=$("$WORK/telltale" serve -h 2>&1 || true)
has() { grep -q -- "-$1 " <<<"$help" || grep -q -- "-$1$" <<<"$help"; }
flags=(--statsd-flush-interval 1s)
if has ingest-auth && [ "$INGEST_AUTH" = 0 ]; then flags+=(--ingest-auth=false); fi
if has memory-budget && [ -n "$MEMORY_BUDGET" ]; then flags+=(--memory-budget "$MEMORY_BUDGET"); fi
# shellcheck disable=SC2206
flags+=(${SERVER_FLAGS:-})

TELLTALE_ADMIN_PASSWORD=$ADMIN_PASSWORD "$WORK/telltale" serve --data-dir "$WORK/data" --log-level warn \
  --otlp-grpc-addr "127.0.0.1:$P_GRPC" --otlp-http-addr "127.0.0.1:$P_HTTP" --http-addr "127.0.0.1:$P_UI" \
  --statsd-addr "127.0.0.1:$P_STATSD" "${flags[@]}" 2>"$WORK/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$P_UI/readyz" >/dev/null && break; sleep 0.1; done

report() { echo "$*" | tee -a "$RES"; }
report "# Telltale soak $(date -u +%FT%TZ), $(nproc) cores, $DURATION, server flags: ${flags[*]}"
"$WORK/soak" run -duration "$DURATION" -pid "$PID" -out "$WORK" \
  -http "127.0.0.1:$P_HTTP" -ui "127.0.0.1:$P_UI" -statsd "127.0.0.1:$P_STATSD" \
  -admin-password "$ADMIN_PASSWORD" | tee -a "$RES"

# A graceful stop: the server commits what it acknowledged and flushes
# StatsD's last interval.
t0=$(date +%s.%N)
kill -TERM $PID
code=0
wait $PID || code=$?
trap - EXIT
report ""
report "server stopped in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f s", b-a}'), exit status $code"
report "bytes on disk: $(du -sb "$WORK/data" | cut -f1)"
report ""
status=0
"$WORK/soak" verify -data-dir "$WORK/data" -out "$WORK" | tee -a "$RES" || status=${PIPESTATUS[0]}
if [ "$code" != 0 ]; then status=1; fi
if [ "$status" = 0 ]; then report "PASS: every acknowledged record stored exactly once"; else report "FAIL (status $status)"; fi
exit "$status"
