#!/usr/bin/env bash
# Side-by-side reverse-proxy benchmark on 127.0.0.1: gatekit (examples/loadbalancer,
# with and without -cache) beside nginx, HAProxy, Caddy and a bare stdlib proxy (see README.md).
# Progress goes to stderr; the Markdown report goes to stdout and to $OUT/results.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd) # the gatekit module
: "${DURATION:=4}"          # seconds per measured run
: "${WARMUP:=2}"            # seconds of unmeasured load per target before the first rep
: "${REPS:=5}"              # measured runs per target, interleaved A B C A B C ...
: "${CONNS:=64}"            # wrk connections (one wrk thread)
: "${BACKENDS:=2}"          # backend processes, one port each
: "${BASE_PORT:=18100}"     # backends BASE+1.., proxies BASE+11..
: "${PIN:=1}"               # 0: no taskset at all
: "${PROXY_CPU:=0}" "${BACKEND_CPU:=0}" "${LOAD_CPU:=1}"
: "${SCENARIOS:=small large}"
: "${SMALL_TARGETS:=direct stdlib gatekit stdlib-default nginx nginx-cache gatekit-cache haproxy caddy}"
: "${LARGE_TARGETS:=direct stdlib gatekit nginx haproxy caddy}"
: "${LARGE_BYTES:=65536}"
: "${CANDIDATE:=}" "${CANDIDATE_DIR:=.}" "${CANDIDATE_BUILD:=}" "${CANDIDATE_NAME:=candidate}"
: "${CADDY_LATEST:=}"       # path of another caddy binary, measured as "caddy-latest"
: "${CADDY_BUILD:=}"        # e.g. v2.11.9: go install that Caddy once into $BENCH_CACHE
: "${BENCH_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/proxy-bench}"
: "${INSTALL:=1}"           # 0: do not apt-get install missing tools
: "${MAX_SECONDS:=900}"     # hard stop, counted from the end of the builds
: "${QUIET_PCT:=10}"        # before each run, wait (up to QUIET_WAIT s) until CPU use is below this
: "${QUIET_WAIT:=15}"
: "${GO:=go}"
OUT=${OUT:-$(mktemp -d -t proxy-bench.XXXXXX)}
mkdir -p "$OUT/bin" "$OUT/log" "$OUT/run"
chmod 755 "$OUT" "$OUT/run" # nginx workers drop root and must reach their dirs
RUN=$OUT/run

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }

# ---------------------------------------------------------------- processes
# Every server runs in its own session (setsid without fork), so its process id is
# also its process-group id and the whole tree (nginx workers, `go run` children)
# is stopped by that id.
PGIDS=()
cleanup() {
  local pg alive i
  for pg in "${PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for pg in "${PGIDS[@]}"; do kill -0 -- "-$pg" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pg in "${PGIDS[@]}"; do
    if kill -0 -- "-$pg" 2>/dev/null; then kill -KILL -- "-$pg" 2>/dev/null || true; fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pin() { local cpu=$1; shift; if [[ $PIN == 1 ]]; then taskset -c "$cpu" "$@"; else "$@"; fi; }

spawn() { # name cpu cmd...  -> sets SPAWNED
  local name=$1 cpu=$2; shift 2
  if [[ $PIN == 1 ]]; then set -- taskset -c "$cpu" "$@"; fi
  setsid "$@" >"$OUT/log/$name.log" 2>&1 </dev/null &
  SPAWNED=$!
  PGIDS+=("$SPAWNED")
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port pid seconds
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- tools
missing=()
for t in nginx haproxy caddy wrk curl; do command -v "$t" >/dev/null || missing+=("$t"); done
if ((${#missing[@]})); then
  [[ $INSTALL == 1 ]] || die "missing: ${missing[*]} (INSTALL=0)"
  say "installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 600 apt-get install -y -qq "${missing[@]}" >"$OUT/log/apt.log" 2>&1; then
    timeout 300 apt-get update -qq >>"$OUT/log/apt.log" 2>&1 || true
    timeout 600 apt-get install -y -qq "${missing[@]}" >>"$OUT/log/apt.log" 2>&1 ||
      die "apt-get install failed, see $OUT/log/apt.log"
  fi
fi
command -v "$GO" >/dev/null || die "Go not found: put it on PATH or set GO=/path/to/go"
if [[ $PIN == 1 && $(nproc) -lt 2 ]]; then say "fewer than 2 CPUs: pinning off"; PIN=0; fi

say "building backend and baseline ..."
(cd "$ROOT" && timeout 300 "$GO" build -o "$OUT/bin/backend" ./bench/backend)
(cd "$ROOT" && timeout 300 "$GO" build -o "$OUT/bin/baseline" ./bench/baseline)
if [[ " $SMALL_TARGETS $LARGE_TARGETS " == *" gatekit"* ]]; then
  say "building gatekit (examples/loadbalancer) ..."
  (cd "$ROOT" && timeout 300 "$GO" build -o "$OUT/bin/gatekit" ./examples/loadbalancer)
fi

if [[ -n $CADDY_BUILD && -z $CADDY_LATEST ]]; then
  CADDY_LATEST=$BENCH_CACHE/caddy-$CADDY_BUILD/caddy
  if [[ ! -x $CADDY_LATEST ]]; then
    say "building caddy $CADDY_BUILD into $BENCH_CACHE (once; takes minutes) ..."
    GOBIN=$(dirname "$CADDY_LATEST") timeout 900 "$GO" install \
      "github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_BUILD" >"$OUT/log/caddy-build.log" 2>&1 ||
      die "caddy build failed, see $OUT/log/caddy-build.log"
  fi
fi

# ---------------------------------------------------------------- targets
declare -A PORT=(
  [stdlib]=$((BASE_PORT + 11)) [stdlib-default]=$((BASE_PORT + 12))
  [nginx]=$((BASE_PORT + 13)) [nginx-cache]=$((BASE_PORT + 14))
  [haproxy]=$((BASE_PORT + 15)) [caddy]=$((BASE_PORT + 16))
  [caddy-latest]=$((BASE_PORT + 17)) [$CANDIDATE_NAME]=$((BASE_PORT + 18))
  [gatekit]=$((BASE_PORT + 19)) [gatekit-cache]=$((BASE_PORT + 20))
)
BACKEND_PORTS=()
for ((i = 1; i <= BACKENDS; i++)); do BACKEND_PORTS+=($((BASE_PORT + i))); done
PORT[direct]=${BACKEND_PORTS[0]}
UPSTREAMS=$(printf '127.0.0.1:%s,' "${BACKEND_PORTS[@]}"); UPSTREAMS=${UPSTREAMS%,}
UPSTREAM_URLS=$(printf 'http://127.0.0.1:%s,' "${BACKEND_PORTS[@]}"); UPSTREAM_URLS=${UPSTREAM_URLS%,}

extra=()
[[ -n $CADDY_LATEST ]] && extra+=(caddy-latest)
[[ -n $CANDIDATE ]] && extra+=("$CANDIDATE_NAME")
with_extra() { # put the extra targets right after stdlib (or last), close to the references
  local t out=() done=0
  for t in $1; do
    out+=("$t")
    if [[ $t == stdlib ]]; then out+=("${extra[@]}"); done=1; fi
  done
  ((done)) || out+=("${extra[@]}")
  echo "${out[*]}"
}
SMALL_TARGETS=$(with_extra "$SMALL_TARGETS")
LARGE_TARGETS=$(with_extra "$LARGE_TARGETS")
want() { [[ " $SMALL_TARGETS $LARGE_TARGETS " == *" $1 "* ]]; }

render() { # template output: fill the {{...}} placeholders
  local ng="" hp="" cd="" i=0 p
  for p in "${BACKEND_PORTS[@]}"; do
    i=$((i + 1))
    ng+="server 127.0.0.1:$p; "
    hp+="    server s$i 127.0.0.1:$p"$'\n'
    cd+="127.0.0.1:$p "
  done
  awk -v run="$RUN" -v ng="$ng" -v hp="${hp%$'\n'}" -v cd="${cd% }" \
    -v port="$3" -v cport="${PORT[nginx-cache]}" '{
      gsub(/\{\{RUN\}\}/, run); gsub(/\{\{NGINX_SERVERS\}\}/, ng)
      gsub(/\{\{HAPROXY_SERVERS\}\}/, hp); gsub(/\{\{CADDY_SERVERS\}\}/, cd)
      gsub(/\{\{CACHE_PORT\}\}/, cport); gsub(/\{\{PORT\}\}/, port); print }' "$1" >"$2"
}

start() { # target
  local t=$1 p=${PORT[$1]} cmd
  port_open "$p" && die "port $p (for $t) is already in use; set BASE_PORT"
  case $t in
    stdlib) spawn "$t" "$PROXY_CPU" "$OUT/bin/baseline" -listen "127.0.0.1:$p" -upstreams "$UPSTREAMS" ;;
    stdlib-default) spawn "$t" "$PROXY_CPU" "$OUT/bin/baseline" -listen "127.0.0.1:$p" -upstreams "$UPSTREAMS" -transport default ;;
    nginx)
      port_open "${PORT[nginx-cache]}" && die "port ${PORT[nginx-cache]} is already in use"
      mkdir -p "$RUN/nginx-tmp" "$RUN/nginx-cache"
      chmod 1777 "$RUN/nginx-tmp" "$RUN/nginx-cache"
      render "$HERE/conf/nginx.conf" "$RUN/nginx.conf" "$p"
      spawn "$t" "$PROXY_CPU" nginx -p "$RUN" -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log" ;;
    gatekit) spawn "$t" "$PROXY_CPU" "$OUT/bin/gatekit" -listen "127.0.0.1:$p" -upstreams "$UPSTREAMS" -policy round-robin ;;
    gatekit-cache) spawn "$t" "$PROXY_CPU" "$OUT/bin/gatekit" -listen "127.0.0.1:$p" -upstreams "$UPSTREAMS" -policy round-robin -cache ;;
    haproxy)
      render "$HERE/conf/haproxy.cfg" "$RUN/haproxy.cfg" "$p"
      spawn "$t" "$PROXY_CPU" haproxy -db -f "$RUN/haproxy.cfg" ;;
    caddy | caddy-latest)
      mkdir -p "$RUN/$t"
      render "$HERE/conf/Caddyfile" "$RUN/$t/Caddyfile" "$p"
      local bin=caddy; [[ $t == caddy-latest ]] && bin=$CADDY_LATEST
      spawn "$t" "$PROXY_CPU" env HOME="$RUN/$t" XDG_DATA_HOME="$RUN/$t" XDG_CONFIG_HOME="$RUN/$t" \
        "$bin" run --config "$RUN/$t/Caddyfile" --adapter caddyfile ;;
    "$CANDIDATE_NAME")
      cmd=${CANDIDATE//\{port\}/$p}; cmd=${cmd//\{upstreams\}/$UPSTREAMS}
      cmd=${cmd//\{upstream_urls\}/$UPSTREAM_URLS}; cmd=${cmd//\{out\}/$OUT/bin}
      if [[ -n $CANDIDATE_BUILD ]]; then
        say "building $t: ${CANDIDATE_BUILD//\{out\}/$OUT/bin}"
        (cd "$CANDIDATE_DIR" && timeout 300 bash -c "${CANDIDATE_BUILD//\{out\}/$OUT/bin}") \
          >"$OUT/log/$t-build.log" 2>&1 || die "candidate build failed, see $OUT/log/$t-build.log"
      fi
      say "starting $t: $cmd"
      pushd "$CANDIDATE_DIR" >/dev/null
      spawn "$t" "$PROXY_CPU" bash -c "exec $cmd"
      popd >/dev/null ;;
    *) die "unknown target $t" ;;
  esac
  wait_port "$p" "$SPAWNED" 180 || die "$t did not start on port $p, see $OUT/log/$t.log"
  return 0
}

# Watchdog: from here on the script stops by itself after MAX_SECONDS whatever happens.
setsid bash -c "sleep $MAX_SECONDS; echo 'run.sh: MAX_SECONDS reached, stopping' >&2; kill -TERM $$" </dev/null &
PGIDS+=("$!")

say "starting ${#BACKEND_PORTS[@]} backends and the proxies ..."
for p in "${BACKEND_PORTS[@]}"; do
  port_open "$p" && die "port $p (backend) is already in use; set BASE_PORT"
  spawn "backend-$p" "$BACKEND_CPU" "$OUT/bin/backend" -listen "127.0.0.1:$p"
  wait_port "$p" "$SPAWNED" 30 || die "backend on $p did not start"
done
for t in stdlib stdlib-default gatekit gatekit-cache nginx haproxy caddy caddy-latest "$CANDIDATE_NAME"; do
  if want "$t" || { [[ $t == nginx ]] && want nginx-cache; }; then start "$t"; fi
done

# ---------------------------------------------------------------- load
cpu_busy() { # percent of all CPU time that was not idle over the next 0.5 s
  local u n s i w q sq st a b
  read -r _ u n s i w q sq st _ </proc/stat; a=$((u + n + s + q + sq + st)); b=$((a + i + w))
  sleep 0.5
  read -r _ u n s i w q sq st _ </proc/stat
  echo $((100 * (u + n + s + q + sq + st - a) / (u + n + s + q + sq + st + i + w - b + 1)))
}

NOISY=0
quiet() { # our servers are idle between runs, so CPU use now is someone else's
  local busy deadline=$((SECONDS + QUIET_WAIT))
  while busy=$(cpu_busy); ((busy > QUIET_PCT)); do
    if ((SECONDS >= deadline)); then
      say "  machine still ${busy}% busy after ${QUIET_WAIT}s, measuring anyway"; NOISY=$((NOISY + 1)); return
    fi
  done
}

check() { # target path bytes: one request must give 200 and the expected body size
  local got
  got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 5 \
    "http://127.0.0.1:${PORT[$1]}$2" || true)
  [[ $got == "200 $3" ]] || { say "  $1: sanity check failed ($got), skipped"; return 1; }
}

wrk_run() { # target path seconds [lua]
  local args=(-t1 -c"$CONNS" -d"$3s" --timeout 5s)
  [[ -n ${4:-} ]] && args+=(-s "$4")
  pin "$LOAD_CPU" timeout $(($3 + 30)) wrk "${args[@]}" "http://127.0.0.1:${PORT[$1]}$2" 2>&1 || true
}

: >"$OUT/results.tsv"
for sc in $SCENARIOS; do
  case $sc in
    small) path=/hello size=64 targets=$SMALL_TARGETS ;;
    large) path="/bytes?n=$LARGE_BYTES" size=$LARGE_BYTES targets=$LARGE_TARGETS ;;
    *) die "unknown scenario $sc" ;;
  esac
  ok=()
  for t in $targets; do check "$t" "$path" "$size" && ok+=("$t"); done
  if [[ " ${ok[*]} " == *" nginx-cache "* ]]; then
    curl -s -o /dev/null -D "$RUN/cache-headers" "http://127.0.0.1:${PORT[nginx-cache]}$path"
    grep -qi 'X-Cache-Status: HIT' "$RUN/cache-headers" || say "  nginx-cache: second request was not a cache HIT"
  fi
  if [[ " ${ok[*]} " == *" gatekit-cache "* ]]; then
    curl -s -o /dev/null -D "$RUN/gk-cache-headers" "http://127.0.0.1:${PORT[gatekit-cache]}$path"
    grep -qi '^Cache-Status:.*hit' "$RUN/gk-cache-headers" || say "  gatekit-cache: second request was not a cache hit"
  fi
  say "scenario $sc ($path): warming up ${ok[*]}"
  for t in "${ok[@]}"; do wrk_run "$t" "$path" "$WARMUP" >/dev/null; done
  for ((rep = 1; rep <= REPS; rep++)); do
    for t in "${ok[@]}"; do
      quiet
      res=$(wrk_run "$t" "$path" "$DURATION" "$HERE/conf/wrk-result.lua" | grep '^RESULT ' | tail -1 || true)
      if [[ -z $res ]]; then say "  $sc $t rep $rep: no result"; continue; fi
      say "  $sc rep $rep $t: ${res#RESULT }"
      # shellcheck disable=SC2086
      set -- ${res#RESULT }
      printf '%s\t%s\t%s' "$sc" "$t" "$rep" >>"$OUT/results.tsv"
      for kv in "$@"; do printf '\t%s' "${kv#*=}" >>"$OUT/results.tsv"; done
      printf '\n' >>"$OUT/results.tsv"
    done
  done
done

# ---------------------------------------------------------------- report
versions() {
  printf -- '- nginx %s, HAProxy %s, Caddy %s' \
    "$(nginx -v 2>&1 | sed 's/.*nginx\///')" "$(haproxy -v | awk 'NR==1{print $3}')" \
    "$(caddy version | awk '{print $1}')"
  [[ -n $CADDY_LATEST ]] && printf ' (caddy-latest %s)' \
    "$("$GO" version -m "$CADDY_LATEST" | awk '$2 == "github.com/caddyserver/caddy/v2" {print $3; exit}')"
  printf ', gatekit %s' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  printf ', wrk %s, %s\n' "$(wrk -v 2>&1 | awk 'NR==1{print $2}')" "$("$GO" version | awk '{print $3}')"
}
{
  echo "## Reverse-proxy benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), Linux $(uname -r)"
  versions
  if [[ $PIN == 1 ]]; then
    echo "- pinning: proxy CPU $PROXY_CPU, backends CPU $BACKEND_CPU, wrk CPU $LOAD_CPU"
  else
    echo "- pinning: none"
  fi
  echo "- wrk -t1 -c$CONNS, $REPS x ${DURATION}s per target, interleaved; $BACKENDS backends, round robin"
  echo
  shared=0
  [[ $PIN == 1 && $PROXY_CPU == "$BACKEND_CPU" && $LOAD_CPU != "$PROXY_CPU" ]] && shared=1
  for sc in $SCENARIOS; do
    title="GET /hello (64 B body)"
    [[ $sc == large ]] && title="GET /bytes?n=$LARGE_BYTES ($((LARGE_BYTES / 1024)) KiB body)"
    awk -v sc="$sc" -v title="$title" -v shared="$shared" -f "$HERE/report.awk" "$OUT/results.tsv"
  done
  echo "spread = (max - min) / median of req/s over the reps. p50/p99 = medians of the per-run"
  echo "percentiles (closed loop at saturation, so mostly queueing). vs direct / vs stdlib = median of"
  echo "per-rep ratios. proxy µs/req = 1e6/req/s - 1e6/req/s(direct), the CPU time the proxy adds per"
  echo "request on the CPU it shares with the backends (only with that pinning). errors = socket errors"
  echo "+ non-2xx responses."
  ((NOISY == 0)) || echo "WARNING: $NOISY runs started while something else was using the CPUs."
} | tee "$OUT/results.md"
say "done in ${SECONDS}s; raw results and logs: $OUT"
