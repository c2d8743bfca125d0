#!/usr/bin/env bash
# scripts/pg-test-server.sh start|stop|status|url — a throwaway PostgreSQL server for the tests.
# 测试用的临时 PostgreSQL 服务器（仅监听 127.0.0.1，免密码 trust 认证，超级用户 postgres）。
#
#   start   initialise (first time) and start the server; print its URL on stdout. Idempotent.
#   stop    stop it (the data is kept; `start` again reuses it).
#   status  say whether it runs; exit 0 if it does, 3 if not.
#   url     print postgresql+psycopg://postgres@127.0.0.1:<port>/postgres
#
# Port: WI_COUNTER_TEST_PG_PORT (default 55432). Files: /tmp/wi-counter-pg-<port>/{data,server.log}.
# The data is disposable: settings favour speed (fsync=off) over durability. Never use it for real data.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user.
set -euo pipefail

PORT=${WI_COUNTER_TEST_PG_PORT:-55432}
BASE=/tmp/wi-counter-pg-$PORT
PGDATA_DIR=$BASE/data
LOG=$BASE/server.log
URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
START_TIMEOUT=30

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    echo "usage: $0 start|stop|status|url   (port \$WI_COUNTER_TEST_PG_PORT, default 55432)" >&2
    exit 2
}

[[ $PORT =~ ^[0-9]+$ ]] || die "WI_COUNTER_TEST_PG_PORT must be a number, got '$PORT'"

# Directory holding initdb/pg_ctl/pg_isready: the highest /usr/lib/postgresql/<ver>/bin, else PATH.
find_pg_bin() {
    local dir
    dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
        printf '%s\n' "$dir"
        return 0
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    die "找不到 PostgreSQL 服务器程序 / cannot find initdb and pg_ctl (not in /usr/lib/postgresql/*/bin nor PATH); run scripts/setup.sh or apt-get install postgresql"
}

AS_ROOT=0
[[ $(id -u) -eq 0 ]] && AS_ROOT=1

# Run a PostgreSQL program as the user that owns the data directory.
as_pg() {
    if ((AS_ROOT)); then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

prepare_base() {
    if ((AS_ROOT)); then
        getent passwd postgres >/dev/null || die "no 'postgres' system user (apt-get install postgresql creates it)"
        if [[ -e $BASE && $(stat -c %U "$BASE") != postgres ]]; then
            die "$BASE belongs to $(stat -c %U "$BASE") (an earlier non-root run?); stop that server and remove the directory, or set WI_COUNTER_TEST_PG_PORT to another port"
        fi
        mkdir -p "$BASE"
        chown postgres: "$BASE"
        chmod 700 "$BASE"
    else
        mkdir -p "$BASE"
        [[ -O $BASE ]] || die "$BASE belongs to $(stat -c %U "$BASE"), not to you; remove it (as root) or set WI_COUNTER_TEST_PG_PORT to another port"
        chmod 700 "$BASE"
    fi
}

is_running() {
    [[ -f $PGDATA_DIR/PG_VERSION ]] && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

port_answers() {
    # pg_isready: 0 accepting, 1 rejecting (starting up), 2 no response, 3 no attempt.
    local rc=0
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2 || rc=$?
    [[ $rc -eq 0 || $rc -eq 1 ]]
}

init_cluster() {
    local major
    major=$("$PG_BIN/pg_ctl" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
    if [[ -f $PGDATA_DIR/PG_VERSION && $(<"$PGDATA_DIR/PG_VERSION") == "$major" ]]; then
        return 0
    fi
    if [[ -e $PGDATA_DIR ]]; then
        say "丢弃旧的/不完整的测试数据目录 / discarding stale or incomplete test data directory $PGDATA_DIR"
        rm -rf "$PGDATA_DIR"
    fi
    say "初始化测试数据库 / initialising the test cluster in $PGDATA_DIR (PostgreSQL $major)"
    as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth-local=trust --auth-host=trust \
        -E UTF8 --locale=C >"$BASE/initdb.log" 2>&1 \
        || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
    # Loopback only; the socket lives in the data directory (no /var/run/postgresql needed).
    as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF

# --- wi-counter throwaway test server (scripts/pg-test-server.sh) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGDATA_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

cmd_start() {
    prepare_base
    # One start at a time (two test runs started together must not both run initdb).
    exec 9>>"$BASE/lock"
    flock -w 120 9 || die "timed out waiting for the lock $BASE/lock"
    if is_running; then
        wait_ready
        say "测试数据库已在运行 / test PostgreSQL already running on 127.0.0.1:$PORT"
        echo "$URL"
        return 0
    fi
    if port_answers; then
        die "端口 $PORT 已被其他 PostgreSQL 占用 / port $PORT is already used by another server; set WI_COUNTER_TEST_PG_PORT to a free port"
    fi
    init_cluster
    say "启动测试数据库 / starting test PostgreSQL on 127.0.0.1:$PORT (log: $LOG)"
    as_pg touch "$LOG"
    # 9>&-: the server must not inherit the lock, or it would hold it for its whole life.
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOG" -W start >/dev/null 9>&- \
        || { tail -n 30 "$LOG" >&2 || true; die "pg_ctl start failed (see $LOG)"; }
    wait_ready
    echo "$URL"
}

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 1; do
        if ((SECONDS >= deadline)); then
            tail -n 30 "$LOG" >&2 || true
            die "PostgreSQL 在 ${START_TIMEOUT} 秒内未就绪 / did not accept connections on 127.0.0.1:$PORT within ${START_TIMEOUT}s (log: $LOG)"
        fi
        sleep 0.3
    done
}

cmd_stop() {
    if ! is_running; then
        say "测试数据库未运行 / test PostgreSQL is not running (port $PORT)"
        return 0
    fi
    say "停止测试数据库 / stopping test PostgreSQL on port $PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
}

cmd_status() {
    if is_running; then
        say "running on 127.0.0.1:$PORT, data in $PGDATA_DIR"
        echo "$URL"
    else
        say "not running (port $PORT)"
        exit 3
    fi
}

[[ $# -eq 1 ]] || usage
case $1 in
    url) echo "$URL" ;;
    start) PG_BIN=$(find_pg_bin); cmd_start ;;
    stop) PG_BIN=$(find_pg_bin); cmd_stop ;;
    status) PG_BIN=$(find_pg_bin); cmd_status ;;
    -h | --help) usage ;;
    *) usage ;;
esac
