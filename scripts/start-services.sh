#!/usr/bin/env bash
# Make sure the local backing services used by the integration tests are up:
#
#   * MariaDB on 127.0.0.1:3306 (user root, empty password, reachable over TCP)
#   * Redis   on 127.0.0.1:6379
#
# Each service is started only when it does not answer already, so the script
# is idempotent and returns in well under a second when both are running.
# It targets a Debian machine without systemd, running as root (sudo is used
# for the privileged steps when run as another user and sudo exists).
#
# Output: one line per service, e.g.
#   mariadb: up (already running)
#   redis: up (started)
# Exit status: 0 when both answer, 1 (with a loud error naming the service)
# otherwise.
#
# Environment:
#   JIM_SKIP_START_SERVICES=1  only check that the services answer, never try
#                              to install or start anything (CI provides them
#                              as containers).
#   JIM_SERVICES_WAIT=30       seconds to wait for a started service to answer.
set -euo pipefail

MYSQL_HOST=127.0.0.1
MYSQL_PORT=3306
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WAIT_SECS="${JIM_SERVICES_WAIT:-30}"
CHECK_ONLY="${JIM_SKIP_START_SERVICES:-0}"

MARIADBD=/usr/sbin/mariadbd
MYSQL_DATADIR=/var/lib/mysql
REDIS_DIR=/var/lib/redis
REDIS_LOGDIR=/var/log/redis
REDIS_LOG="$REDIS_LOGDIR/ci.log"

export DEBIAN_FRONTEND=noninteractive

# ---------------------------------------------------------------- helpers ---

log() { printf '%s\n' "$*" >&2; }

loud_error() {
    {
        printf '\n'
        printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
        printf '!!! ERROR: %s\n' "$*"
        printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
        printf '\n'
    } >&2
}

# Run a command as root (directly when we already are root).
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        log "need root to run: $*"
        return 1
    fi
}

APT_UPDATED=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not available; cannot install $*"
        return 1
    fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "+ apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        APT_UPDATED=1
    fi
    log "+ apt-get install -y $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# Optional `timeout` wrapper so a wedged server cannot hang the script.
if command -v timeout >/dev/null 2>&1; then
    with_timeout() { timeout "$@"; }
else
    with_timeout() { shift; "$@"; }
fi

# Wait until "$@" succeeds, polling every 0.25 s, for at most WAIT_SECS.
wait_for() {
    local deadline=$((SECONDS + WAIT_SECS))
    while ((SECONDS < deadline)); do
        if "$@"; then
            return 0
        fi
        sleep 0.25
    done
    "$@"
}

# ---------------------------------------------------------------- mariadb ---

mysql_admin_bin() {
    if command -v mysqladmin >/dev/null 2>&1; then
        echo mysqladmin
    elif command -v mariadb-admin >/dev/null 2>&1; then
        echo mariadb-admin
    else
        return 1
    fi
}

mysql_client_bin() {
    if command -v mysql >/dev/null 2>&1; then
        echo mysql
    elif command -v mariadb >/dev/null 2>&1; then
        echo mariadb
    else
        return 1
    fi
}

# `mysqladmin ping` exits 0 whenever the server answers, even when the login
# itself is refused, so this only tests that something speaks MySQL there.
mariadb_ping() {
    local admin
    admin=$(mysql_admin_bin) || return 1
    with_timeout 5 "$admin" --protocol=TCP -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot \
        --connect-timeout=2 ping >/dev/null 2>&1
}

mariadb_tcp_login() {
    local client
    client=$(mysql_client_bin) || return 1
    with_timeout 5 "$client" --protocol=TCP -h"$MYSQL_HOST" -P"$MYSQL_PORT" -uroot \
        --connect-timeout=2 -N -e 'select 1' >/dev/null 2>&1
}

mariadb_socket_sql() {
    local client
    client=$(mysql_client_bin) || return 1
    as_root "$client" -uroot --connect-timeout=2 "$@"
}

mariadb_start() {
    if [[ ! -x $MARIADBD ]]; then
        apt_install mariadb-server mariadb-client
    fi
    if [[ ! -x $MARIADBD ]]; then
        log "$MARIADBD still missing after installing mariadb-server"
        return 1
    fi
    if ! mysql_admin_bin >/dev/null; then
        apt_install mariadb-client
    fi

    as_root mkdir -p /run/mysqld /var/log/mysql
    as_root chown mysql:mysql /run/mysqld /var/log/mysql || true

    if [[ ! -d $MYSQL_DATADIR/mysql ]]; then
        log "+ initialising MariaDB data directory $MYSQL_DATADIR"
        as_root mkdir -p "$MYSQL_DATADIR"
        as_root chown mysql:mysql "$MYSQL_DATADIR"
        if command -v mariadb-install-db >/dev/null 2>&1; then
            as_root mariadb-install-db --user=mysql >&2
        else
            as_root mysql_install_db --user=mysql >&2
        fi
    fi

    log "+ start-stop-daemon --start --oknodo --background --exec $MARIADBD"
    as_root start-stop-daemon --start --oknodo --background --exec "$MARIADBD" >&2
}

# Make sure root can log in over TCP with an empty password.  A stock Debian
# install gives root@localhost unix_socket auth only; with skip-name-resolve a
# TCP login from 127.0.0.1 matches root@127.0.0.1 instead of root@localhost,
# so cover both (and ::1).
mariadb_fix_root_tcp() {
    mariadb_tcp_login && return 0
    log "mariadb: root cannot log in over TCP; trying to fix via the unix socket"
    if ! mariadb_socket_sql -N -e 'select 1' >/dev/null 2>&1; then
        log "mariadb: root cannot log in via the unix socket either"
        return 1
    fi
    mariadb_socket_sql <<'SQL' >&2
ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
ALTER USER root@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS root@'::1' IDENTIFIED BY '';
ALTER USER root@'::1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO root@'::1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
    mariadb_tcp_login
}

ensure_mariadb() {
    local how="already running"
    if ! mysql_admin_bin >/dev/null || ! mysql_client_bin >/dev/null; then
        if [[ $CHECK_ONLY == 1 ]]; then
            loud_error "mariadb: mysqladmin/mariadb-admin or mysql client not installed"
            return 1
        fi
        apt_install mariadb-client || true
    fi

    if ! mariadb_ping; then
        if [[ $CHECK_ONLY == 1 ]]; then
            loud_error "mariadb: nothing answers on $MYSQL_HOST:$MYSQL_PORT" \
                "(JIM_SKIP_START_SERVICES=1, so not starting it)"
            return 1
        fi
        how="started"
        if ! mariadb_start || ! wait_for mariadb_ping; then
            loud_error "mariadb: could not start / reach MariaDB on $MYSQL_HOST:$MYSQL_PORT within ${WAIT_SECS}s"
            if [[ -r /var/log/mysql/error.log ]]; then
                log "--- last lines of /var/log/mysql/error.log ---"
                tail -n 20 /var/log/mysql/error.log >&2 || true
            fi
            return 1
        fi
    fi

    if ! mariadb_fix_root_tcp; then
        loud_error "mariadb: server answers on $MYSQL_HOST:$MYSQL_PORT but root cannot log in over TCP with an empty password"
        return 1
    fi
    echo "mariadb: up ($how)"
}

# ------------------------------------------------------------------ redis ---

redis_ping() {
    command -v redis-cli >/dev/null 2>&1 || return 1
    local out
    out=$(with_timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) || return 1
    [[ $out == PONG ]]
}

redis_start() {
    if ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server
    fi
    if ! command -v redis-cli >/dev/null 2>&1; then
        apt_install redis-tools
    fi
    as_root mkdir -p "$REDIS_DIR" "$REDIS_LOGDIR"

    local args=(--daemonize yes --port "$REDIS_PORT" --save "" --appendonly no
        --dir "$REDIS_DIR" --logfile "$REDIS_LOG")
    log "+ redis-server --bind 127.0.0.1 -::1 ${args[*]}"
    if ! as_root redis-server --bind 127.0.0.1 -::1 "${args[@]}" >&2; then
        # Redis < 7 does not understand the optional "-::1" bind address.
        log "+ retrying with --bind 127.0.0.1 only"
        as_root redis-server --bind 127.0.0.1 "${args[@]}" >&2
    fi
}

ensure_redis() {
    local how="already running"
    if ! redis_ping; then
        if [[ $CHECK_ONLY == 1 ]]; then
            loud_error "redis: nothing answers PONG on $REDIS_HOST:$REDIS_PORT" \
                "(JIM_SKIP_START_SERVICES=1, so not starting it)"
            return 1
        fi
        how="started"
        if ! redis_start || ! wait_for redis_ping; then
            loud_error "redis: could not start / reach Redis on $REDIS_HOST:$REDIS_PORT within ${WAIT_SECS}s"
            if [[ -r $REDIS_LOG ]]; then
                log "--- last lines of $REDIS_LOG ---"
                tail -n 20 "$REDIS_LOG" >&2 || true
            fi
            return 1
        fi
    fi
    echo "redis: up ($how)"
}

# ------------------------------------------------------------------- main ---

rc=0
ensure_mariadb || rc=1
ensure_redis || rc=1
exit "$rc"
