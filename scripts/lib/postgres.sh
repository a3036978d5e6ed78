# A throwaway PostgreSQL cluster on a free port of 127.0.0.1, for scripts/test
# and `scripts/run --prod`. Sourced; the caller defines say, die and PY.
#
#   start_postgres [SERVER_OPTION...]  initdb + start, exports DATABASE_URL
#   stop_postgres                      stop and delete it (safe to call twice)
#
# The data directory lives under TMPDIR and goes with stop_postgres. As root,
# the server runs as the system user nexuspg (initdb refuses root).

PG_BIN=${PG_BIN:-}
PG_TMP=""
PG_CTL=""
PG_AS=()

find_pg() {
    local dir
    for dir in "$PG_BIN" /usr/local/bin /usr/lib/postgresql/*/bin; do
        if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    command -v initdb >/dev/null && dirname "$(command -v initdb)" && return 0
    return 1
}

start_postgres() {
    local bin port
    bin=$(find_pg) || die "PostgreSQL server binaries (initdb, pg_ctl) not found; set PG_BIN"
    PG_CTL=$bin/pg_ctl
    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/nexus-pg.XXXXXX") || return 1
    if [ "$(id -u)" -eq 0 ]; then
        id -u nexuspg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin nexuspg ||
            return 1
        chown nexuspg "$PG_TMP" || return 1
        PG_AS=(runuser -u nexuspg --)
    fi
    port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
    (
        cd "$PG_TMP"
        "${PG_AS[@]}" "$bin/initdb" -D "$PG_TMP/data" -U nexuspg --auth=trust --encoding=UTF8 --no-instructions >"$PG_TMP/initdb.log" 2>&1 ||
            {
                cat "$PG_TMP/initdb.log" >&2
                exit 1
            }
        "${PG_AS[@]}" "$PG_CTL" start -D "$PG_TMP/data" -l "$PG_TMP/postgres.log" -w -t 60 -o \
            "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$PG_TMP' $*" \
            >/dev/null ||
            {
                cat "$PG_TMP/postgres.log" >&2
                exit 1
            }
    ) || return 1
    export DATABASE_URL=postgres://nexuspg@127.0.0.1:$port/postgres
    say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $PG_TMP)"
}

stop_postgres() {
    [ -n "$PG_TMP" ] || return 0
    if [ -f "$PG_TMP/data/postmaster.pid" ]; then
        (cd "$PG_TMP" && "${PG_AS[@]}" "$PG_CTL" stop -D "$PG_TMP/data" -m fast -w >/dev/null 2>&1) || true
    fi
    rm -rf "$PG_TMP"
    PG_TMP=""
}
