#!/usr/bin/env bash
# Media figures for BENCHMARKS.md (never run by the test suite): prints figures, asserts none.
#
#   1. A 1 GiB file uploaded to and downloaded from a release `jim serve`, for the `fs` and the
#      `s3` (Garage) backends: throughput and how far the server's RSS grows, beside Debian's
#      nginx serving the same file to the same client.
#   2. Chat send->push latency (the load tool's b1 at 1,000 msg/s) alone, then while 20
#      clients upload 12-megapixel photos.
#
# Installs nginx (Debian) and Garage (scripts/install-garage.sh) when absent. Usage:
#   bash scripts/bench-media.sh            # both parts
#   SIZE_MIB=256 bash scripts/bench-media.sh
#   PARTS=2 bash scripts/bench-media.sh   # only the chat latency beside photo uploads
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB="${SIZE_MIB:-1024}"
PARTS="${PARTS:-1,2}"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"

if [[ ",$PARTS," == *",1,"* ]]; then
if ! command -v nginx >/dev/null; then
    echo "installing nginx (Debian)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light >&2 ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx >&2
fi
GARAGE_BIN="${GARAGE_BIN:-$(bash scripts/install-garage.sh)}"
fi
cargo build --release --locked --bin jim --example media_bench --example load >&2
JIM=target/release/jim
BENCH=target/release/examples/media_bench
LOAD=target/release/examples/load

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    # The servers' logs outlive the run: they say where a slow or refused request went.
    mkdir -p target/bench-media-logs
    for log in "$WORK"/jim-*/log; do [ -e "$log" ] && cp "$log" "target/bench-media-logs/$(basename "$(dirname "$log")").log"; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() {
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "not answering: $1" >&2
    return 1
}

# CPU seconds each of the server's threads (grouped by name) used while "$@" ran.
thread_cpu() {
    local pid=$1
    shift
    local before after
    before="$(thread_times "$pid")"
    "$@"
    after="$(thread_times "$pid")"
    echo "server CPU by thread while it ran (s):"
    join <(echo "$before" | sort) <(echo "$after" | sort) |
        awk -v hz="$(getconf CLK_TCK)" '{d = ($5 + $6 - $3 - $4) / hz; by[$2] += d; all += d}
            END {for (k in by) if (by[k] >= 0.05) printf "  %-24s %6.2f\n", k, by[k]; printf "  %-24s %6.2f\n", "all", all}' |
        sort -k2 -nr
}

# One line per thread: id, name (spaces removed), user and system clock ticks.
thread_times() {
    local t stat
    for t in /proc/"$1"/task/*; do
        stat="$(cat "$t/stat" 2>/dev/null)" || continue
        # The name sits in parentheses and may hold spaces; the fields after it do not.
        local name="${stat#*(}"; name="${name%)*}"
        local rest=(${stat##*) })
        echo "${t##*/} ${name// /_} ${rest[11]} ${rest[12]}"
    done
}

# Start jim on a fresh data dir with extra -O options; sets JIM_URL and JIM_PID.
start_jim() {
    local dir="$WORK/jim-$RANDOM" port
    port="$(free_port)"
    mkdir -p "$dir"
    "$JIM" serve -O "data_dir=$dir" -O "http.listen=127.0.0.1:$port" \
        -O auth.captcha_on_register=false -O auth.bcrypt_cost=4 -O log.level=warn \
        -O media.max_upload_bytes=2147483648 -O media.max_file_bytes=2147483648 \
        -O media.user_quota_bytes=0 -O media.uploads_per_minute=0 "$@" \
        >"$dir/log" 2>&1 &
    JIM_PID=$!
    PIDS+=("$JIM_PID")
    JIM_URL="http://127.0.0.1:$port"
    wait_http "$JIM_URL/livez"
}

stop_jim() {
    kill "$JIM_PID" 2>/dev/null || true
    wait "$JIM_PID" 2>/dev/null || true
}

if [[ ",$PARTS," == *",1,"* ]]; then
echo "== 1. a ${SIZE_MIB} MiB file"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/big.bin"

NGINX_PORT="$(free_port)"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
# The files live in a private temp dir: the worker reads them as the user who started it.
user root;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $WORK/nginx;
    proxy_temp_path $WORK/nginx;
    fastcgi_temp_path $WORK/nginx;
    uwsgi_temp_path $WORK/nginx;
    scgi_temp_path $WORK/nginx;
    server { listen 127.0.0.1:$NGINX_PORT; root $WORK; }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=("$!")
wait_http "http://127.0.0.1:$NGINX_PORT/big.bin"

start_jim -O media.backend=fs
"$BENCH" --url "$JIM_URL" --server-pid "$JIM_PID" --file "$WORK/big.bin" \
    --compare-url "http://127.0.0.1:$NGINX_PORT/big.bin" --label fs
stop_jim

# Garage, as the tests start it (scripts/install-garage.sh; one node, one bucket, one key).
GDIR="$WORK/garage"
mkdir -p "$GDIR"
S3_PORT="$(free_port)"; RPC_PORT="$(free_port)"; ADMIN_PORT="$(free_port)"
KEY_ID="GK$(openssl rand -hex 12)"; SECRET="$(openssl rand -hex 32)"
cat >"$GDIR/garage.toml" <<TOML
metadata_dir = "$GDIR/meta"
data_dir = "$GDIR/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(openssl rand -hex 32)"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
admin_token = "$(openssl rand -hex 16)"
TOML
GARAGE_DEFAULT_ACCESS_KEY="$KEY_ID" GARAGE_DEFAULT_SECRET_KEY="$SECRET" \
    GARAGE_DEFAULT_BUCKET=jim-bench RUST_LOG=warn \
    "$GARAGE_BIN" -c "$GDIR/garage.toml" server --single-node --default-bucket \
    >"$GDIR/log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/health")" = 200 ] && break
    sleep 0.1
done

start_jim -O media.backend=s3 -O "media.s3_endpoint=http://127.0.0.1:$S3_PORT" \
    -O media.s3_bucket=jim-bench -O media.s3_region=garage \
    -O "media.s3_access_key_id=$KEY_ID" -O "media.s3_secret_access_key=$SECRET"
"$BENCH" --url "$JIM_URL" --server-pid "$JIM_PID" --file "$WORK/big.bin" \
    --compare-url "http://127.0.0.1:$NGINX_PORT/big.bin" --label s3
stop_jim

fi

if [[ ",$PARTS," == *",2,"* ]]; then
echo "== 2. chat latency (b1, 1,000 msg/s) alone, then beside 20 photo uploaders"
start_jim -O media.backend=fs -O chat.world_slow_mode_secs=0
"$LOAD" --url "$JIM_URL" --server-pid "$JIM_PID" --scenario b1 --pairs 100 --rate 1000 \
    --warmup 3 --duration 20 | grep -E "p50|p99|RESULT" || true
stop_jim
start_jim -O media.backend=fs -O chat.world_slow_mode_secs=0
"$BENCH" --url "$JIM_URL" --photos 20 --seconds 30 --label photos &
PHOTOS=$!
sleep 4
thread_cpu "$JIM_PID" "$LOAD" --url "$JIM_URL" --server-pid "$JIM_PID" --scenario b1 \
    --pairs 100 --rate 1000 --warmup 3 --duration 20 | grep -E "p50|p99|RESULT|CPU|^  " || true
wait "$PHOTOS"
stop_jim
fi
