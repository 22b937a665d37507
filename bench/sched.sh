#!/usr/bin/env bash
# Where CPU 0's time goes, per request, in bench/run.sh's setup: two
# bench/backend processes and the proxy on CPU 0, each in a session of its
# own (setsid, as run.sh starts every server), wrk -t1 -c64 on CPU 1 for
# GET /hello. Each proxy is measured in turn, in interleaved rounds, with
# backends started afresh for it. Per round it prints requests per second;
# the CPU time per request of the proxy and of the two backends together;
# and context switches per request: the proxy's involuntary ones (it was
# preempted, here by a backend woken by its request) and the backends'
# voluntary ones (a backend ran out of work and slept, to be woken again).
# The last table has the medians of the rounds.
#
#   bench/sched.sh                          # gatekit, stdlib, floor, nginx (when installed)
#   ROUNDS=5 DURATION=4 bench/sched.sh
#   PROXIES="gatekit nginx" bench/sched.sh
#   GATEKIT=/tmp/old-lb bench/sched.sh      # another build of examples/loadbalancer
#
# Needs wrk and curl (nginx optional): apt-get install -y wrk curl nginx.
set -euo pipefail
: "${ROUNDS:=3}" "${DURATION:=4}" "${WARMUP:=2}" "${CONNS:=64}" "${BASE_PORT:=18401}" "${GO:=go}" "${GATEKIT:=}"
: "${PROXIES:=gatekit stdlib floor nginx}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d)
chmod 755 "$OUT" # nginx workers drop root and must reach their directory
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$OUT"
}
trap cleanup EXIT
for t in wrk curl; do command -v "$t" >/dev/null || { echo "sched.sh: needs $t (apt-get install -y $t)" >&2; exit 1; }; done
if [[ " $PROXIES " == *" nginx "* ]] && ! command -v nginx >/dev/null; then
  echo "sched.sh: nginx is not installed, left out (apt-get install -y nginx)" >&2
  PROXIES=${PROXIES//nginx/}
fi
(cd "$ROOT" && "$GO" build -o "$OUT/backend" ./bench/backend && "$GO" build -o "$OUT/gatekit" ./examples/loadbalancer &&
  "$GO" build -o "$OUT/stdlib" ./bench/baseline && "$GO" build -o "$OUT/floor" ./bench/floor)
[[ -n $GATEKIT ]] && cp "$GATEKIT" "$OUT/gatekit"
port=$BASE_PORT b1port=$((BASE_PORT + 1)) b2port=$((BASE_PORT + 2))
upstreams="127.0.0.1:$b1port,127.0.0.1:$b2port"
mkdir -p "$OUT/nginx/nginx-tmp" "$OUT/nginx/nginx-cache" && chmod 1777 "$OUT/nginx/nginx-tmp" "$OUT/nginx/nginx-cache"
awk -v run="$OUT/nginx" -v ng="server 127.0.0.1:$b1port; server 127.0.0.1:$b2port;" \
  -v port="$port" -v cport="$((BASE_PORT + 3))" '{
    gsub(/\{\{RUN\}\}/, run); gsub(/\{\{NGINX_SERVERS\}\}/, ng)
    gsub(/\{\{CACHE_PORT\}\}/, cport); gsub(/\{\{PORT\}\}/, port); print }' \
  "$ROOT/bench/conf/nginx.conf" >"$OUT/nginx/nginx.conf"

on0() { setsid taskset -c 0 "$@" >/dev/null 2>&1 </dev/null & pids+=($!); }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status | awk -v k="$2" '$1 == k ":" { n += $2 } END { print n + 0 }'; }
up() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/hello" && return 0; sleep 0.05; done; return 1; }
hz=$(getconf CLK_TCK)
printf '%-6s %-8s %9s %12s %14s %16s %18s\n' round proxy req/s "proxy us" "backends us" "proxy invol" "backends vol"
for r in $(seq "$ROUNDS"); do
  for p in $PROXIES; do
    pids=()
    on0 "$OUT/backend" -listen "127.0.0.1:$b1port"
    be1=$!
    on0 "$OUT/backend" -listen "127.0.0.1:$b2port"
    be2=$!
    up "$b1port" && up "$b2port"
    if [[ $p == nginx ]]; then
      on0 nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log"
      up "$port"
      px=$(pgrep -P "$(cat "$OUT/nginx/nginx.pid")" | head -1) # the worker
    else
      on0 "$OUT/$p" -listen "127.0.0.1:$port" -upstreams "$upstreams"
      px=$!
      up "$port"
    fi
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://127.0.0.1:$port/hello" >/dev/null
    t0=$(ticks "$px") b0=$(($(ticks "$be1") + $(ticks "$be2")))
    i0=$(switches "$px" nonvoluntary_ctxt_switches) v0=$(($(switches "$be1" voluntary_ctxt_switches) + $(switches "$be2" voluntary_ctxt_switches)))
    res=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/hello")
    t1=$(ticks "$px") b1=$(($(ticks "$be1") + $(ticks "$be2")))
    i1=$(switches "$px" nonvoluntary_ctxt_switches) v1=$(($(switches "$be1" voluntary_ctxt_switches) + $(switches "$be2" voluntary_ctxt_switches)))
    n=$(awk '/requests in/ { print $1 }' <<<"$res")
    awk -v r="$r" -v p="$p" -v n="$n" -v s="$DURATION" -v hz="$hz" -v t=$((t1 - t0)) -v b=$((b1 - b0)) -v i=$((i1 - i0)) -v v=$((v1 - v0)) \
      'BEGIN { printf "%-6s %-8s %9.0f %12.1f %14.1f %16.2f %18.2f\n", r, p, n / s, t / hz * 1e6 / n, b / hz * 1e6 / n, i / n, v / n }' | tee -a "$OUT/rows"
    if [[ $p == nginx ]]; then nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" -s stop 2>/dev/null || true; fi
    for q in "${pids[@]}"; do kill "$q" 2>/dev/null || true; done
    for q in "${pids[@]}"; do while kill -0 "$q" 2>/dev/null; do sleep 0.05; done; done
    while ss -ltn | grep -q "127.0.0.1:$port "; do sleep 0.05; done
  done
done
echo
echo "medians of $ROUNDS rounds:"
median() { sort -n | awk '{ v[NR] = $1 } END { m = int((NR + 1) / 2); print (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2 }'; }
for p in $PROXIES; do
  meds=()
  for c in 3 4 5 6 7; do meds+=("$(awk -v p="$p" -v c="$c" '$2 == p { print $c }' "$OUT/rows" | median)"); done
  printf '%-6s %-8s %9.0f %12.1f %14.1f %16.2f %18.2f\n' median "$p" "${meds[@]}"
done
