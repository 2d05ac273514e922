#!/usr/bin/env bash
# Throw-away PostgreSQL clusters for the test suite.
#
#   scripts/postgres.sh install          install Debian's server if missing (root only)
#   scripts/postgres.sh start DIR PORT   initdb a new cluster in DIR, start it on
#                                        127.0.0.1:PORT, create stabot_test, and
#                                        print its SQLAlchemy URL on stdout
#   scripts/postgres.sh stop DIR         stop the cluster in DIR (DIR is left for
#                                        the caller to delete)
#
# Why our own cluster instead of the system one (Debian's "15/main"): CI machines
# have no running services, the system cluster's auth (peer) and state are not
# ours to change, and a private cluster with fsync=off is fast and disposable.
#
# The server refuses to run as root, so when root runs this script the cluster
# belongs to the `postgres` system user (created by Debian's package) and every
# server-side command goes through runuser. A non-root user with its own
# binaries (PG_BIN, /usr/lib/postgresql/*/bin or pg_ctl on PATH) runs them
# directly. Logs go to stderr so that stdout carries only the URL.
#
# Environment:
#   PG_BIN   directory holding initdb/pg_ctl (default: newest
#            /usr/lib/postgresql/*/bin, else the directory of pg_ctl on PATH)
set -euo pipefail

DB_NAME=stabot_test
SUPERUSER=postgres

log() { printf '[postgres] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# Print the directory with the server binaries, or fail.
find_pg_bin() {
    local dir
    if [[ -n "${PG_BIN:-}" ]]; then
        [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] || return 1
        printf '%s\n' "$PG_BIN"
        return 0
    fi
    # Debian keeps the real binaries off PATH (/usr/bin/pg_ctl does not exist,
    # only the pg_ctlcluster wrappers); take the newest major version.
    dir="$(
        for d in /usr/lib/postgresql/*/bin; do
            [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && printf '%s\n' "$d"
        done | sort -V | tail -n 1
    )"
    if [[ -z "$dir" ]] && command -v pg_ctl >/dev/null 2>&1; then
        dir="$(dirname "$(command -v pg_ctl)")"
        [[ -x "$dir/initdb" ]] || dir=""
    fi
    [[ -n "$dir" ]] || return 1
    printf '%s\n' "$dir"
}

# True when the package lists know a version of package $1. (Not a pipe into
# grep -q: under pipefail, grep quitting early SIGPIPEs apt-cache and the
# pipeline reads as "no candidate".)
has_candidate() {
    local out
    out="$(apt-cache policy "$1" 2>/dev/null)" || return 1
    [[ "$out" == *"Candidate: "* && "$out" != *"Candidate: (none)"* ]]
}

# apt-get install that copes with a machine whose package lists are missing or
# stale: refresh the lists first when a package has no candidate at all, and
# once more if the install itself fails (a stale list points at .debs the
# mirror has since replaced, which fails with 404 before anything is unpacked).
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    local pkg
    for pkg in "$@"; do
        if ! has_candidate "$pkg"; then
            log "no candidate for $pkg in the package lists; running apt-get update"
            apt-get update -q >&2
            break
        fi
    done
    # --no-install-recommends: postgresql-15 only recommends sysstat, which the
    # tests don't need. Dpkg::Use-Pty=0 keeps the log readable without a tty.
    local apt_opts=(-y -q --no-install-recommends -o Dpkg::Use-Pty=0)
    if ! apt-get install "${apt_opts[@]}" "$@" >&2; then
        log "apt-get install failed; refreshing package lists and retrying once"
        apt-get update -q >&2
        apt-get install "${apt_opts[@]}" "$@" >&2
    fi
}

cmd_install() {
    local bin
    if bin="$(find_pg_bin)"; then
        log "server binaries already present in $bin; nothing to install"
        return 0
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        die "PostgreSQL server binaries not found and not root, so cannot apt-get them; install postgresql or set PG_BIN"
    fi
    command -v apt-get >/dev/null 2>&1 || die "no apt-get on this machine; install PostgreSQL by hand or set PG_BIN"
    log "installing Debian's postgresql package"
    # Note: the package's postinst creates a system cluster (15/main) and asks
    # invoke-rc.d to start it. Without systemd/init (containers, CI) that start
    # is refused or fails harmlessly; either way it listens on 5432 and we never
    # use it, since our clusters get their own port.
    apt_install postgresql
    bin="$(find_pg_bin)" || die "postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
    log "installed; server binaries in $bin"
}

# Run a server-side command as the cluster owner.
as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u "$SUPERUSER" -- "$@"
    else
        "$@"
    fi
}

cmd_start() {
    [[ $# -eq 2 ]] || usage
    local dir="$1" port="$2" bin data
    if ! [[ "$port" =~ ^[1-9][0-9]*$ ]] || ((port > 65535)); then
        die "bad port: $port"
    fi
    bin="$(find_pg_bin)" || die "PostgreSQL server binaries not found; run '$0 install' (as root) or set PG_BIN"
    dir="$(realpath -m -- "$dir")"
    data="$dir/data"

    # Throw-away means fresh: refuse to reuse or clobber someone's directory.
    if [[ -e "$dir" ]] && [[ -n "$(ls -A -- "$dir")" ]]; then
        die "$dir is not empty; give start a new or empty directory"
    fi
    mkdir -p -- "$dir"
    chmod 700 -- "$dir"
    if [[ "$(id -u)" -eq 0 ]]; then
        id "$SUPERUSER" >/dev/null 2>&1 || die "no '$SUPERUSER' system user (it comes with Debian's postgresql package)"
        chown "$SUPERUSER:" -- "$dir"
        # The server runs as postgres, so every parent of DIR must let it in
        # (a mktemp -d parent is mode 700 root, for example).
        as_owner test -x "$dir" || die "user $SUPERUSER cannot reach $dir; choose a directory whose parents are world-searchable (e.g. under /tmp)"
    fi
    # The postgres user may not be allowed into the caller's cwd (e.g. /root),
    # which makes initdb and pg_ctl complain; nothing below needs the cwd.
    cd /

    log "initdb $data ($("$bin/pg_ctl" --version))"
    # -U postgres: same superuser name whoever runs this, so the URL is stable.
    # UTF8 with the C locale: the bot stores Chinese text, and the C locale
    # exists on every machine (no locales package needed) and sorts bytewise.
    # --no-sync: nothing here needs to survive a crash.
    as_owner "$bin/initdb" -D "$data" -U "$SUPERUSER" --auth=trust -E UTF8 --no-locale --no-sync \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    }

    # Loopback TCP only; no Unix socket (avoids the 107-byte socket path limit
    # and the root-owned /var/run/postgresql). Durability off: it's a test DB.
    as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF

# --- stabot throw-away test cluster (scripts/postgres.sh) ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
log_min_messages = warning
EOF
    # Trust, but only for loopback TCP connections.
    as_owner tee "$data/pg_hba.conf" >/dev/null <<'EOF'
# TYPE  DATABASE  USER  ADDRESS        METHOD
host    all       all   127.0.0.1/32   trust
EOF

    log "starting on 127.0.0.1:$port"
    if ! as_owner "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >&2; then
        tail -n 30 "$dir/postgres.log" >&2 || true
        die "server did not start (port $port in use?); log: $dir/postgres.log"
    fi

    # pg_ctl -w already waits for the postmaster; pg_isready confirms that it
    # accepts connections on the TCP address we are about to hand out.
    local tries=0
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$SUPERUSER"; do
        ((++tries < 60)) || {
            tail -n 30 "$dir/postgres.log" >&2 || true
            die "server not ready on 127.0.0.1:$port after 30 s"
        }
        sleep 0.5
    done

    "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$SUPERUSER" "$DB_NAME" >&2 ||
        die "createdb $DB_NAME failed"
    log "ready: database $DB_NAME on 127.0.0.1:$port"
    printf 'postgresql+asyncpg://%s@127.0.0.1:%s/%s\n' "$SUPERUSER" "$port" "$DB_NAME"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    local dir data bin
    dir="$(realpath -m -- "$1")"
    data="$dir/data"
    if [[ ! -f "$data/postmaster.pid" ]]; then
        log "no running cluster in $dir"
        return 0
    fi
    bin="$(find_pg_bin)" || die "PostgreSQL server binaries not found; cannot stop $dir"
    cd /
    log "stopping cluster in $dir"
    # fast = disconnect clients and shut down cleanly; if that hangs, immediate.
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >&2 ||
        as_owner "$bin/pg_ctl" -D "$data" -m immediate -w -t 30 stop >&2
}

[[ $# -ge 1 ]] || usage
action="$1"
shift
case "$action" in
    install) [[ $# -eq 0 ]] || usage; cmd_install ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
