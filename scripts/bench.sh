#!/usr/bin/env bash
# Run the load benchmarks B1-B5 (examples/load/) against a release `jim serve` in both
# profiles, RUNS times each, and write the results table into BENCHMARKS.md (between the
# "results" markers; the hand-written analysis around them is kept).
#
#   scripts/bench.sh                          # everything, 3 runs
#   RUNS=1 PROFILES=embedded SCENARIOS="b1 b3" scripts/bench.sh
#
# Sizes can be lowered with the variables below (the table says what was run). Every server
# is started fresh (embedded: empty data dir; scale-out: database jim_bench dropped and
# created, Redis keys under a unique server_name), with captcha off and bcrypt cost 4 so that
# thousands of users can be registered quickly; durability settings stay at their defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
PROFILES="${PROFILES:-embedded scaleout}"
SCENARIOS="${SCENARIOS:-b1 b2 b3 b4 b4x b5}"
PORT="${PORT:-18080}"
B1_PAIRS="${B1_PAIRS:-1000}" B1_RATE="${B1_RATE:-5000}" B1_SECS="${B1_SECS:-5}"
# b1's warm-up: seconds at the same rate before the measured ones (every sender's first
# message reads its friendship from the database); its figures are reported apart.
B1_WARMUP="${B1_WARMUP:-2}"
B2_PAIRS="${B2_PAIRS:-200}" B2_RATES="${B2_RATES:-1000,2000,3000,4000,5000,6000,8000,10000,12000,15000,17500,20000}" B2_SECS="${B2_SECS:-3}"
B3_MEMBERS="${B3_MEMBERS:-1000}" B3_TICKS="${B3_TICKS:-20}" B3_BURST="${B3_BURST:-200}"
B4_CONNS="${B4_CONNS:-10000}" B4_IDLE="${B4_IDLE:-5}"
# b4x: the ~19k step; the sockets are held by two client processes (20,000 descriptors each).
B4X_CONNS="${B4X_CONNS:-19000}"
B5_CONNS="${B5_CONNS:-10000}" B5_RATE="${B5_RATE:-200}" B5_SECS="${B5_SECS:-4}"
MYSQL_URL="mysql://root@127.0.0.1:3306/jim_bench"
REDIS_URL="redis://127.0.0.1:6379"

OUT="target/bench"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
# REPORT_ONLY=1: rewrite BENCHMARKS.md from the results of an earlier (possibly partial) run.
[ "${REPORT_ONLY:-0}" = 1 ] || : >"$RESULTS"
# One process may hold at most the hard limit of descriptors (20,000 here).
ulimit -n "$(ulimit -Hn)"

[ "${SKIP_BUILD:-0}" = 1 ] || [ "${REPORT_ONLY:-0}" = 1 ] || cargo build --release --bin jim --example load
JIM="$PWD/target/release/jim"
LOAD="$PWD/target/release/examples/load"
URL="http://127.0.0.1:$PORT"

server_args() { # profile -> the serve command line
    local a=(-O "data_dir=$PWD/$OUT/data" -O "http.listen=127.0.0.1:$PORT"
        -O auth.captcha_on_register=false -O auth.bcrypt_cost=4
        -O groups.default_max_members=2000 -O log.level=warn)
    if [ "$1" = scaleout ]; then
        a+=(-O "database.url=$MYSQL_URL" -O "redis.url=$REDIS_URL" -O "server_name=$SERVER_NAME")
    fi
    printf '%q ' "$JIM" "${a[@]}" serve
}

wait_ready() {
    for _ in $(seq 1 1500); do
        curl -sf "$URL/readyz" >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    echo "server not ready; log:" >&2
    tail -20 "$OUT/server.log" >&2
    return 1
}

stop_server() {
    if [ -f "$OUT/server.pid" ]; then
        local pid
        pid="$(cat "$OUT/server.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$OUT/server.pid"
    fi
}
trap stop_server EXIT

start_server() { # profile
    stop_server
    rm -rf "$OUT/data"
    mkdir -p "$OUT/data"
    if [ "$1" = scaleout ]; then
        mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS jim_bench;
            CREATE DATABASE jim_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        SERVER_NAME="jim_bench_$(date +%s)_$RANDOM"
    fi
    CMD="$(server_args "$1")"
    # The restart used by B5: kill -9, start again on the same data, print the new pid.
    cat >"$OUT/restart.sh" <<EOF
#!/usr/bin/env bash
pid=\$(cat "$PWD/$OUT/server.pid")
kill -9 "\$pid"
while kill -0 "\$pid" 2>/dev/null; do sleep 0.005; done
$CMD >>"$PWD/$OUT/server.log" 2>&1 </dev/null &
echo \$! >"$PWD/$OUT/server.pid"
until curl -sf "$URL/readyz" >/dev/null 2>&1; do sleep 0.01; done
cat "$PWD/$OUT/server.pid"
EOF
    chmod +x "$OUT/restart.sh"
    bash -c "exec $CMD" >"$OUT/server.log" 2>&1 </dev/null &
    echo $! >"$OUT/server.pid"
    wait_ready
}

scenario_args() { # scenario -> load tool arguments
    case "$1" in
    b1) echo "--scenario b1 --pairs $B1_PAIRS --rate $B1_RATE --duration $B1_SECS --warmup $B1_WARMUP" ;;
    b2) echo "--scenario b2 --pairs $B2_PAIRS --rates $B2_RATES --duration $B2_SECS" ;;
    b3) echo "--scenario b3 --members $B3_MEMBERS --ticks $B3_TICKS --burst $B3_BURST" ;;
    b4) echo "--scenario b4 --conns $B4_CONNS --conns-per-user 10 --idle-secs $B4_IDLE --source-ips 4" ;;
    b4x) echo "--scenario b4 --conns $B4X_CONNS --conns-per-user 10 --idle-secs $B4_IDLE --source-ips 4 --procs 2" ;;
    b5) echo "--scenario b5 --conns $B5_CONNS --conns-per-user 10 --rate $B5_RATE --duration $B5_SECS --source-ips 4 --restart-cmd $PWD/$OUT/restart.sh" ;;
    esac
}

declare -A COMMANDS
SERVER_NAME="jim_bench_UNIQUE"
for profile in $PROFILES; do
    for scenario in $SCENARIOS; do
        COMMANDS["$profile $scenario"]="$(server_args "$profile" | sed "s|$PWD/||g")
target/release/examples/load --url $URL --server-pid \$PID $(scenario_args "$scenario")"
    done
done
for profile in $PROFILES; do
    for scenario in $SCENARIOS; do
        for run in $(seq 1 "$RUNS"); do
            [ "${REPORT_ONLY:-0}" = 1 ] && continue
            echo "=== $profile $scenario run $run" >&2
            start_server "$profile"
            args="$(scenario_args "$scenario")"
            log="$OUT/$profile-$scenario-$run.log"
            # shellcheck disable=SC2086
            if "$LOAD" --url "$URL" --server-pid "$(cat "$OUT/server.pid")" $args >"$log" 2>&1; then
                result="$(grep '^RESULT ' "$log" | tail -1 | cut -c8-)"
                echo "{\"profile\":\"$profile\",\"run\":$run,\"ok\":true,\"scenario\":\"$scenario\",\"data\":$result}" >>"$RESULTS"
            else
                why="$(grep -E 'REFUSED|^load:' "$log" | head -2 | tr '\n' ' ' | sed 's/"/\\"/g')"
                echo "{\"profile\":\"$profile\",\"run\":$run,\"ok\":false,\"scenario\":\"$scenario\",\"why\":\"$why\"}" >>"$RESULTS"
                echo "FAILED: $why" >&2
            fi
            tail -3 "$log" >&2
            stop_server
            # Kept per run: a stall the load tool reports may have left a warning there.
            cp "$OUT/server.log" "$OUT/$profile-$scenario-$run.server.log"
        done
    done
done

# ---- BENCHMARKS.md -----------------------------------------------------------------------
{
    echo "<!-- results:begin (written by scripts/bench.sh; edit outside the markers) -->"
    echo "## Results ($(date -u +%Y-%m-%dT%H:%MZ), median of $RUNS runs, min–max in brackets)"
    echo
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r)."
    echo
    echo '```'
    free -h
    echo '```'
    echo
    echo "Durability: embedded SQLite \`journal_mode=WAL\`, \`synchronous=FULL\` (database.sqlite_synchronous default);"
    if echo "$PROFILES" | grep -q scaleout; then
        echo "MariaDB $(mariadb -h127.0.0.1 -uroot -N -e 'SELECT @@version') \`innodb_flush_log_at_trx_commit=$(mariadb -h127.0.0.1 -uroot -N -e 'SELECT @@innodb_flush_log_at_trx_commit')\`, \`sync_binlog=$(mariadb -h127.0.0.1 -uroot -N -e 'SELECT @@sync_binlog')\`, binlog $(mariadb -h127.0.0.1 -uroot -N -e 'SELECT IF(@@log_bin,"on","off")'); Redis (pub/sub only for messages) appendonly=$(redis-cli -h 127.0.0.1 CONFIG GET appendonly | tail -1)."
    fi
    echo "Every message is committed before the send is answered and before it is pushed."
    echo "Load-run server settings: \`auth.captcha_on_register=false\`, \`auth.bcrypt_cost=4\` (registration of thousands of users), \`groups.default_max_members=2000\` (B3)."
    echo "Load generator and server (and MariaDB/Redis) share the same $(nproc) cores."
    echo
    python3 - "$RESULTS" "$RUNS" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d: return None
        d = d[k]
    return d
metrics = {
 "b1": [("p50 ms","latency.p50_ms"),("p99 ms","latency.p99_ms"),("p99.9 ms","latency.p999_ms"),("max ms","latency.max_ms"),("delivered/s","delivered_rate"),("server CPU µs/msg","server_cpu_us_per_msg"),("server RSS MiB","server_rss_mib"),("warm-up p50 ms","warmup.latency.p50_ms"),("warm-up p99 ms","warmup.latency.p99_ms")],
 "b2": [("max sustained msg/s","max_sustained_rate"),("p99 ms at that rate","best.latency.p99_ms"),("delivered/s at that rate","best.delivered_rate"),("server CPU µs/msg","best.server_cpu_us_per_msg")],
 "b3": [("last member p50 ms","last_member_latency.p50_ms"),("last member p99 ms","last_member_latency.p99_ms"),("last member max ms","last_member_latency.max_ms"),("burst deliveries/s","burst_deliveries_per_s"),("burst last member ms","burst_last_member_ms"),("server CPU µs/delivery (burst)","server_cpu_us_per_delivery_burst")],
 "b4": [("sockets","sockets"),("server RSS KiB/socket","rss_kib_per_socket"),("idle CPU % of a core per 10k","idle_cpu_pct_per_10k")],
 "b4x": [("sockets","sockets"),("client processes","client_processes"),("server RSS KiB/socket","rss_kib_per_socket"),("idle CPU % of a core per 10k","idle_cpu_pct_per_10k")],
 "b5": [("sockets","sockets"),("% caught up ≤5 s after restart","pct_caught_up_5s_after_ready"),("% caught up ≤5 s after kill","pct_caught_up_5s_after_kill"),("catch-up p99 ms after ready","caught_up_after_ready_p99_ms"),("restart s","restart_s"),("lost","lost"),("duplicated","duplicates")],
}
titles = {"b4x": "B4 at ~19k sockets (two client processes)"}
def fmt(x):
    if x is None: return "–"
    if abs(x) >= 100: return f"{x:,.0f}"
    if abs(x) >= 10: return f"{x:.1f}"
    return f"{x:.2f}"
profiles = []
for r in rows:
    if r["profile"] not in profiles: profiles.append(r["profile"])
for sc, ms in metrics.items():
    have = [r for r in rows if r.get("scenario", (r.get("data") or {}).get("scenario")) == sc]
    if not have: continue
    print(f"### {titles.get(sc, sc.upper())}\n")
    print("| metric | " + " | ".join(profiles) + " |")
    print("|---|" + "---|" * len(profiles))
    for label, path in ms:
        cells = []
        for p in profiles:
            vals = [get(r["data"]["result"], path) for r in have if r["profile"] == p and r["ok"]]
            vals = [v for v in vals if isinstance(v, (int, float))]
            fails = sum(1 for r in have if r["profile"] == p and not r["ok"])
            if not vals:
                cells.append("refused" if fails else "–")
                continue
            c = fmt(statistics.median(vals))
            if len(vals) > 1: c += f" ({fmt(min(vals))}–{fmt(max(vals))})"
            if fails: c += f" [{fails} run(s) refused]"
            cells.append(c)
        print(f"| {label} | " + " | ".join(cells) + " |")
    for r in have:
        if not r["ok"]:
            print(f"\nRefused run: {r['profile']} {sc} run {r['run']}: {r.get('why','')}")
    print()
PY
    echo "### Command lines"
    echo
    echo '```'
    for k in "${!COMMANDS[@]}"; do echo "# $k"; echo "${COMMANDS[$k]}"; done | sed 's/--restart-cmd .*restart.sh/--restart-cmd target\/bench\/restart.sh/'
    echo '```'
    echo "<!-- results:end -->"
} >"$OUT/results.md"

if [ -f BENCHMARKS.md ] && grep -q 'results:begin' BENCHMARKS.md; then
    python3 - "$OUT/results.md" <<'PY'
import re, sys
new = open(sys.argv[1]).read()
old = open("BENCHMARKS.md").read()
out = re.sub(r"<!-- results:begin.*?<!-- results:end -->\n?", lambda _: new, old, flags=re.S)
open("BENCHMARKS.md", "w").write(out)
PY
else
    { echo "# Benchmarks"; echo; cat "$OUT/results.md"; } >BENCHMARKS.md
fi
echo "wrote BENCHMARKS.md (raw results: $RESULTS, logs: $OUT/*.log)" >&2
