#!/usr/bin/env bash
# Server time of each dashboard page on demo data: runs `telltale demo` for
# DEMO (default 3m) on loopback, then fetches every main page RUNS times
# (default 5) and prints the best and the median time of each.
#
#   DEMO=5m bash bench/pages.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${DEMO:-3m}
RUNS=${RUNS:-5}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
go build -o "$dir/telltale" ./cmd/telltale
ui=127.0.0.1:24320
"$dir/telltale" demo --data-dir "$dir/data" --rate 25 --otlp-grpc-addr 127.0.0.1:24317 --otlp-http-addr 127.0.0.1:24318 \
	--http-addr $ui --statsd-addr 127.0.0.1:24125 >"$dir/demo.log" 2>&1 &
pid=$!
echo "demo running for $DEMO ..."
sleep "$(( $(echo "$DEMO" | sed 's/m$/*60/;s/s$//') ))"
api() { curl -fsS "http://$ui$1"; }
trace=$(api "/api/v1/traces?from=now-1h&service=pricing&limit=1" | grep -o '"trace_id":"[0-9a-f]*"' | head -1 | cut -d'"' -f4)
issue=$(api "/api/v1/issues?limit=1" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
printf '%-8s %-8s %s\n' best median page
for p in "/" "/services/fibfrontend" "/map" "/logs" "/logs?q=service:pricing+level>=error" "/requests/$trace" \
	"/errors" "/errors/$issue" "/explore" "/explore?metric=fibpro.requests" \
	"/explore?mode=promql&promql=sum+by+(service_name)(rate(http_server_request_duration_seconds_count%5B1m%5D))"; do
	times=$(for _ in $(seq "$RUNS"); do curl -s -o /dev/null -w '%{time_total}\n' "http://$ui$p"; done | sort -n)
	printf '%-8s %-8s %s\n' "$(echo "$times" | head -1)" "$(echo "$times" | sed -n "$(( (RUNS + 1) / 2 ))p")" "$p"
done
