#!/usr/bin/env bash
# Runs the http-cache-tests suite (npm package http-cache-tests, the suite
# behind cache-tests.fyi) against `examples/loadbalancer -cache` in front of
# the suite's own origin server, on loopback, and compares the result with
# the reference results the package ships (nginx, Squid, ATS, Apache,
# Varnish). Fails when fewer than MIN_REQUIRED required tests pass.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MIN_REQUIRED:=140}"     # Squid, the best reference, passes 122
: "${ORIGIN_PORT:=18700}" "${PROXY_PORT:=18701}"
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

for attempt in 1 2 3; do
	(cd "$work" && npm install --silent --no-audit --no-fund --no-progress http-cache-tests@0.4.5 >/dev/null) && break
	[ "$attempt" = 3 ] && { echo "npm install http-cache-tests failed" >&2; exit 1; }
	sleep 5
done
suite="$work/node_modules/http-cache-tests"
go build -o "$work/lb" ./examples/loadbalancer

(cd "$suite" && npm_config_protocol=http npm_config_port=$ORIGIN_PORT npm_config_pidfile="$work/origin.pid" exec node server/server.mjs) >"$work/origin.log" 2>&1 &
pids+=($!)
"$work/lb" -listen "127.0.0.1:$PROXY_PORT" -upstreams "127.0.0.1:$ORIGIN_PORT" -cache >"$work/proxy.log" 2>&1 &
pids+=($!)
for port in "$ORIGIN_PORT" "$PROXY_PORT"; do
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		[ "$i" = 100 ] && { echo "port $port did not open" >&2; cat "$work"/*.log >&2; exit 1; }
		sleep 0.1
	done
done

(cd "$suite" && npm_config_base="http://127.0.0.1:$PROXY_PORT" npm_config_id= npm_package_config_id= timeout 300 node --no-warnings cli.mjs) >"$work/gatekit.json"
cp .ci/cache-tests-count.mjs "$suite/count.mjs"
cp "$work/gatekit.json" "$work/gatekit-loadbalancer.json"
(cd "$suite" && MIN_REQUIRED=$MIN_REQUIRED node count.mjs results/nginx.json results/squid.json \
	results/trafficserver.json results/apache.json results/varnish.json "$work/gatekit-loadbalancer.json")
