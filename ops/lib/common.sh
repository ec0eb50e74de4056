# Shared by ops/run, ops/test and ops/soak. Sourced, not run.

# The Debian packages the ledger builds and runs with.
MLLEDGER_PACKAGES=(libpq-dev librdkafka-dev libsodium-dev postgresql pkg-config python3)  # python3: the job templates

say() { printf '%s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else say "need root to run: $*  (install sudo or run as root)"; return 1
    fi
}

# Installs whichever of the given Debian packages are missing; does nothing when all are there.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_swift() {
    command -v swift >/dev/null 2>&1 && return 0
    say "swift is not on PATH; install Swift 6 (https://www.swift.org/install/linux/) and try again"
    return 1
}

# The PostgreSQL server binaries of the newest installed major version.
pg_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    dirname "$(command -v initdb)"
}

# A TCP port on 127.0.0.1 that is free now.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    else
        echo $(( 20000 + RANDOM % 30000 ))
    fi
}

# Runs a PostgreSQL server command, as the postgres user when we are root (PostgreSQL refuses root).
pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts a throwaway PostgreSQL in a new directory; sets PG_TMP_DIR and PG_TMP_PORT.
start_throwaway_postgres() {
    local bindir; bindir=$(pg_bindir)
    PG_TMP_DIR=$(mktemp -d /tmp/mlledger-pg.XXXXXX)
    PG_TMP_PORT=$(free_port)
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_TMP_DIR"; fi
    chmod 0700 "$PG_TMP_DIR"
    pg_as_owner "$bindir/initdb" -D "$PG_TMP_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C --no-instructions >/dev/null
    pg_as_owner "$bindir/pg_ctl" -D "$PG_TMP_DIR/data" -l "$PG_TMP_DIR/server.log" -w -t 60 \
        -o "-p $PG_TMP_PORT -k '' -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
    say "throwaway PostgreSQL on 127.0.0.1:$PG_TMP_PORT ($PG_TMP_DIR)"
}

stop_throwaway_postgres() {
    [ -n "${PG_TMP_DIR:-}" ] || return 0
    pg_as_owner "$(pg_bindir)/pg_ctl" -D "$PG_TMP_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP_DIR"
    PG_TMP_DIR=
}
