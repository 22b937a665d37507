#!/usr/bin/env bash
# gRPC unary calls per second on 127.0.0.1 with h2load: the grpc-go backend
# (bench/grpcbackend) direct, through gatekit (examples/loadbalancer -h2c with
# h2c:// upstreams) and through nginx grpc_pass, in interleaved rounds; the
# report gives each proxy's calls/s and its ratio to the same round's direct
# run. Progress goes to stderr, the Markdown table to stdout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
: "${DURATION:=3}"        # seconds per measured run
: "${REPS:=3}"            # rounds, each running every target once
: "${CONNS:=4}"           # h2load client connections
: "${STREAMS:=16}"        # concurrent streams per connection
: "${BACKENDS:=2}"        # backend addresses (one process)
: "${BASE_PORT:=18460}"   # backends BASE+1.., proxies BASE+11..
: "${PIN:=1}"             # 0: no taskset
: "${PROXY_CPU:=0}" "${LOAD_CPU:=1}"
: "${TARGETS:=direct gatekit nginx}"
: "${GO:=go}"
OUT=${OUT:-$(mktemp -d -t grpc-bench.XXXXXX)}
mkdir -p "$OUT/bin" "$OUT/log" "$OUT/run/nginx-tmp"
chmod 755 "$OUT" "$OUT/run"
chmod 1777 "$OUT/run/nginx-tmp"
RUN=$OUT/run

say() { printf '%s\n' "$*" >&2; }
die() { say "grpc.sh: $*"; exit 1; }

PGIDS=()
cleanup() {
  local pg
  for pg in "${PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  sleep 0.5
  for pg in "${PGIDS[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

spawn() { # name cpu cmd...
  local name=$1 cpu=$2; shift 2
  if [[ $PIN == 1 ]]; then set -- taskset -c "$cpu" "$@"; fi
  setsid "$@" >"$OUT/log/$name.log" 2>&1 </dev/null &
  PGIDS+=("$!")
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { local i; for ((i = 0; i < 100; i++)); do port_open "$1" && return 0; sleep 0.1; done; return 1; }

for t in h2load nginx; do command -v "$t" >/dev/null || die "$t not found (apt-get install -y nghttp2-client nginx)"; done
if [[ $PIN == 1 && $(nproc) -lt 2 ]]; then PIN=0; fi

say "building ..."
(cd "$ROOT" && timeout 300 "$GO" build -o "$OUT/bin/grpcbackend" ./bench/grpcbackend)
(cd "$ROOT" && timeout 300 "$GO" build -o "$OUT/bin/gatekit" ./examples/loadbalancer)

ups=() h2c=() nginx_servers=""
for ((i = 1; i <= BACKENDS; i++)); do
  a=127.0.0.1:$((BASE_PORT + i))
  port_open $((BASE_PORT + i)) && die "port $((BASE_PORT + i)) is already in use"
  ups+=("$a") h2c+=("h2c://$a") nginx_servers+="server $a; "
done
declare -A PORT=([direct]=$((BASE_PORT + 1)) [gatekit]=$((BASE_PORT + 11)) [nginx]=$((BASE_PORT + 12)))
spawn backend "$PROXY_CPU" "$OUT/bin/grpcbackend" -listen "$(IFS=,; echo "${ups[*]}")"
wait_port "${PORT[direct]}" || die "backend did not start"
for t in $TARGETS; do
  case $t in
    direct) ;;
    gatekit)
      spawn gatekit "$PROXY_CPU" env GOMAXPROCS=1 "$OUT/bin/gatekit" -h2c -listen "127.0.0.1:${PORT[gatekit]}" \
        -upstreams "$(IFS=,; echo "${h2c[*]}")" ;;
    nginx)
      sed -e "s|{{RUN}}|$RUN|g" -e "s|{{PORT}}|${PORT[nginx]}|g" -e "s|{{NGINX_SERVERS}}|$nginx_servers|g" \
        "$HERE/conf/nginx-grpc.conf" >"$RUN/nginx-grpc.conf"
      spawn nginx "$PROXY_CPU" nginx -p "$RUN" -c "$RUN/nginx-grpc.conf" -e "$RUN/nginx-grpc-error.log" ;;
    *) die "unknown target $t" ;;
  esac
  wait_port "${PORT[$t]}" || die "$t did not start (see $OUT/log/$t.log)"
done

# An empty HealthCheckRequest: the 5-byte gRPC message prefix, no payload.
printf '\0\0\0\0\0' >"$OUT/req.bin"
load() { # target -> calls/s, or fails when a call did not succeed
  local out
  local pin=()
  if [[ $PIN == 1 ]]; then pin=(taskset -c "$LOAD_CPU"); fi
  out=$(timeout $((DURATION + 20)) "${pin[@]}" h2load -D "$DURATION" -c "$CONNS" -m "$STREAMS" -d "$OUT/req.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:${PORT[$1]}/grpc.health.v1.Health/Check" 2>&1) || { say "$out"; return 1; }
  local failed
  failed=$(awk '/^requests:/ { print $10 + $12 }' <<<"$out")
  [[ $failed == 0 ]] || { say "$1: $failed calls failed or errored"; say "$out"; return 1; }
  awk '/^finished in/ { sub(/,$/, "", $4); print $4 }' <<<"$out"
}

say "warm-up ..."
for t in $TARGETS; do DURATION=1 load "$t" >/dev/null; done
declare -A RES=()
for ((r = 1; r <= REPS; r++)); do
  for t in $TARGETS; do
    v=$(load "$t")
    RES[$t,$r]=$v
    say "round $r $t: $v calls/s"
  done
done

load_avg=$(cut -d' ' -f1-3 /proc/loadavg)
printf '| target | calls/s (median of %d) | ratio to direct (median of rounds) |\n|---|---|---|\n' "$REPS"
for t in $TARGETS; do
  vals=() ratios=()
  for ((r = 1; r <= REPS; r++)); do
    vals+=("${RES[$t,$r]}")
    ratios+=("$(awk -v a="${RES[$t,$r]}" -v b="${RES[direct,$r]}" 'BEGIN { printf "%.2f", a / b }')")
  done
  med=$(printf '%s\n' "${vals[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  rat=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  printf '| %s | %.0f | %s |\n' "$t" "$med" "$rat"
done
printf '\n%d connections x %d streams, %ds runs, %d backend addresses; load average at the end: %s\n' \
  "$CONNS" "$STREAMS" "$DURATION" "$BACKENDS" "$load_avg"
