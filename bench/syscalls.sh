#!/usr/bin/env bash
# CPU time and system calls per proxied request: starts one bench/backend
# and examples/loadbalancer (round robin, defaults) on 127.0.0.1, warms the
# proxy up, then has h2load send a fixed number (N) of HTTP/1.1 requests
# over CONNS connections twice: first reading the proxy process's CPU time
# (user + system, from /proc) before and after, then counting its system
# calls (strace -c -f). CPU time per request depends far less on other
# load on the machine than requests per second do.
#
#   bench/syscalls.sh                      # 20000 GET /hello, 16 connections
#   LB=/tmp/old-lb bench/syscalls.sh      # another build of examples/loadbalancer
#   N=5000 PATH_Q='/bytes?n=65536' bench/syscalls.sh
#   LB=/tmp/floor bench/syscalls.sh      # any proxy taking -listen and -upstreams
#                                         # (go build -o /tmp/floor ./bench/floor)
#
# The backend's CPU time per request is printed too: its work per request
# hardly depends on the proxy in front (only through the header fields the
# proxy forwards), so proxy/backend compares proxies measured minutes apart
# on a machine whose speed drifts. So are the proxy's context switches per
# request (voluntary: it waited; involuntary: it was preempted).
#
# SESSIONS=1 starts the backend and the proxy each in a session of its
# own (setsid), as bench/run.sh starts every server. Where the kernel
# groups tasks by session for scheduling (autogroup, on when
# /proc/sys/kernel/sched_autogroup_enabled is 1), the proxy and the
# backend on CPU 0 are then two groups, and the backend, woken by each
# request, preempts the proxy: CPU time per request rises for both.
#
# Needs strace and h2load (apt-get install -y strace nghttp2-client).
set -euo pipefail
: "${N:=20000}" "${CONNS:=16}" "${PATH_Q:=/hello}" "${BASE_PORT:=18201}" "${GO:=go}" "${ARGS:=}" "${LB:=}" "${PIN:=1}" "${SESSIONS:=0}"
# PIN=1 (with 2 CPUs or more): proxy and backend on CPU 0, h2load on CPU 1.
on0=() on1=()
if [[ $PIN == 1 && $(nproc) -ge 2 ]]; then on0=(taskset -c 0) on1=(taskset -c 1); fi
if [[ $SESSIONS == 1 ]]; then on0=(setsid "${on0[@]}"); fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
(cd "$ROOT" && "$GO" build -o "$OUT/backend" ./bench/backend && "$GO" build -o "$OUT/lb" ./examples/loadbalancer)
[[ -n $LB ]] && cp "$LB" "$OUT/lb" # LB=path measures another build of the proxy
"${on0[@]}" "$OUT/backend" -listen "127.0.0.1:$((BASE_PORT + 1))" & pids+=($!)
be=$!
# shellcheck disable=SC2086
"${on0[@]}" "$OUT/lb" -listen "127.0.0.1:$BASE_PORT" -upstreams "127.0.0.1:$((BASE_PORT + 1))" $ARGS & pids+=($!)
lb=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$BASE_PORT$PATH_Q" && break; sleep 0.1; done
timeout 60 "${on1[@]}" h2load --h1 -n 2000 -c "$CONNS" "http://127.0.0.1:$BASE_PORT$PATH_Q" > /dev/null
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { i += $2 } END { print v + 0, i + 0 }'; }
hz=$(getconf CLK_TCK)
t0=$(ticks "$lb"); b0=$(ticks "$be"); read -r v0 i0 < <(switches "$lb")
timeout 120 "${on1[@]}" h2load --h1 -n "$N" -c "$CONNS" "http://127.0.0.1:$BASE_PORT$PATH_Q" | grep -E '^requests:'
t1=$(ticks "$lb"); b1=$(ticks "$be"); read -r v1 i1 < <(switches "$lb")
awk -v d=$((t1 - t0)) -v b=$((b1 - b0)) -v hz="$hz" -v n="$N" -v v=$((v1 - v0)) -v i=$((i1 - i0)) 'BEGIN {
  printf "proxy CPU time per request: %.1f us\n", d / hz * 1e6 / n
  printf "backend CPU time per request: %.1f us (proxy/backend %.2f)\n", b / hz * 1e6 / n, (b > 0 ? d / b : 0)
  printf "proxy context switches per request: voluntary %.2f, involuntary %.2f\n", v / n, i / n }'
strace -c -f -o "$OUT/strace.txt" -p "$lb" & st=$!
sleep 1
timeout 120 "${on1[@]}" h2load --h1 -n "$N" -c "$CONNS" "http://127.0.0.1:$BASE_PORT$PATH_Q" | grep -E '^requests:|^status codes:'
kill -INT "$st"; wait "$st" || true
cat "$OUT/strace.txt"
awk -v n="$N" '
  $NF ~ /^(read|write|futex|epoll_pwait|nanosleep)$/ { printf "%s %.2f, ", $NF, $4 / n }
  $NF == "total" { printf "\nsystem calls per request: %.2f\n", $(NF-2) / n }' "$OUT/strace.txt"
rm -rf "$OUT"
