#!/usr/bin/env bash
# Shared helpers for scripts/test, scripts/up and scripts/down. Source it; do not run it.
# Everything here assumes Debian 12 and root (CI and the target machine run as root).

# Repository root, whichever script sourced us and from wherever it was called.
JOINT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Print a message to stderr, prefixed with the calling script's name.
log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "$*"; exit 1; }

# PostgreSQL runs as the postgres user via runuser, and apt-get installs: both need root.
require_root() { [ "$(id -u)" -eq 0 ] || die "run me as root (Debian 12)"; }

# Install the Debian packages that are not installed yet. apt-get update runs at most once
# per process and only when something is missing, so re-runs on a ready machine are fast.
_joint_apt_updated=
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        # dpkg -s alone also succeeds for removed-but-not-purged packages; check the status.
        if ! dpkg -s "$pkg" 2>/dev/null | grep -qx 'Status: install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$_joint_apt_updated" ]; then
        apt-get update -q
        _joint_apt_updated=1
    fi
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Debian 12's PostgreSQL 15 server programs (not on PATH by default).
pg_bin() { echo /usr/lib/postgresql/15/bin; }

# A TCP port that was free a moment ago on 127.0.0.1 (the kernel picks it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run a command as the postgres user: initdb and postgres refuse to run as root.
# cd / first: the caller's directory may be unreadable for postgres (e.g. under /root).
_as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# pg_start DIR PORT [INITDB_ARGS...]: run a PostgreSQL cluster in DIR/data, listening on
# 127.0.0.1:PORT only, its Unix socket in DIR and its log in DIR/log. initdb runs only
# when DIR/data is missing, so a kept cluster (scripts/up) is reused; extra arguments go
# to initdb (scripts/test passes --no-sync). Does nothing if the cluster already runs.
# (pg_ctl hands -o to /bin/sh, hence the quotes around the socket directory.)
pg_start() {
    local dir=$1 port=$2
    shift 2
    local bin
    bin=$(pg_bin)
    mkdir -p "$dir"
    chown postgres: "$dir"
    # postgres must be able to reach DIR: every parent needs search permission for it.
    _as_postgres test -w "$dir" -a -x "$dir" \
        || die "user postgres cannot write to $dir (is a parent directory private, like /root?)"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        # A half-made data dir (an interrupted initdb) would make initdb refuse; start over.
        rm -rf "$dir/data"
        _as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
            --locale=C.UTF-8 "$@" >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir/data"; }
    fi
    if _as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        return 0
    fi
    if ! _as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k '$dir'" start >/dev/null; then
        tail -n 20 "$dir/log" >&2 || true
        log "PostgreSQL failed to start in $dir on port $port"
        return 1
    fi
}

# pg_stop DIR: fast-stop the cluster in DIR/data; fine if it is not running or not there.
pg_stop() {
    local dir=$1
    [ -f "$dir/data/PG_VERSION" ] || return 0
    if _as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        log "stopping PostgreSQL in $dir"
        _as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
}

# pid_alive PID: the process exists and is not a zombie (an unreaped orphan in a
# container whose init does not reap would otherwise look alive forever).
pid_alive() {
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# wait_for_port NAME PID HOST PORT LOG: wait up to 15 s for PID to accept connections on
# HOST:PORT; on failure show the end of LOG and exit.
wait_for_port() {
    local name=$1 pid=$2 host=$3 port=$4 logfile=$5 i
    for ((i = 0; i < 150; i++)); do
        if ! pid_alive "$pid"; then
            tail -n 30 "$logfile" >&2 || true
            die "$name exited during startup (log: $logfile)"
        fi
        if nc -z -w 1 "$host" "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 30 "$logfile" >&2 || true
    die "$name did not accept connections on $host:$port within 15 s (log: $logfile)"
}

# stop_pidfile FILE NAME: stop the process recorded in FILE if it is still NAME (the pid
# may have been reused by something else since), SIGTERM then wait, SIGKILL as a last resort.
stop_pidfile() {
    local file=$1 name=$2 pid i
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" \
        && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do # up to 15 s for a graceful shutdown
            pid_alive "$pid" || break
            sleep 0.1
        done
        if pid_alive "$pid"; then
            log "$name (pid $pid) ignored SIGTERM for 15 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$file"
}

# Where scripts/up keeps its private PostgreSQL cluster. Normally <repo>/.joint/pg; when the
# postgres user cannot reach the repository (a clone under /root, which is private), the
# cluster lives under /var/lib/joint and <repo>/.joint/pg is a symlink to it. Prints the
# resolved path, which is what postgres must be given.
joint_pg_dir() { joint_pg_dir_at "$JOINT_ROOT/.joint/pg"; }

# joint_pg_dir_at LINK: the same for a cluster kept at LINK (scripts/cluster keeps two).
joint_pg_dir_at() {
    local link=$1 parent
    parent=$(dirname "$link")
    mkdir -p "$parent"
    # A symlink whose target was deleted: forget it and decide afresh.
    if [ -L "$link" ] && [ ! -e "$link" ]; then rm -f "$link"; fi
    if [ ! -e "$link" ] && ! _as_postgres test -x "$parent"; then
        mkdir -p /var/lib/joint
        ln -s "$(mktemp -d /var/lib/joint/pg.XXXXXX)" "$link"
    fi
    readlink -f "$link"
}

# The port a running cluster in DIR listens on (line 4 of postmaster.pid).
pg_port() { sed -n 4p "$1/data/postmaster.pid"; }

# What joint-gui needs to build and its window tests to run, on a machine that has only
# Rust, gcc, Python and git: the X11/Xft/Pango/Cairo/fontconfig headers fltk-sys compiles
# FLTK against, fonts (FLTK dies without any; DejaVu has no CJK, WenQuanYi Micro Hei covers
# Chinese), Xvfb, xauth, xdotool and ImageMagick for the tests, and CMake >= 3.28 (Debian 12
# has 3.25) from PyPI in a venv under /opt/joint-tools. Exports CMAKE and puts that cmake
# first on PATH (fltk-sys's build script looks for `cmake` on PATH).
ensure_gui_build_tools() {
    ensure_packages build-essential pkg-config python3-venv \
        libx11-dev libxext-dev libxft-dev libxinerama-dev libxcursor-dev libxrender-dev \
        libxfixes-dev libpango1.0-dev libcairo2-dev libfontconfig1-dev libfreetype-dev \
        fontconfig fonts-dejavu-core fonts-wqy-microhei xvfb xauth xdotool imagemagick
    local tools=${JOINT_TOOLS:-/opt/joint-tools} version
    local venv=$tools/cmake
    version=$("$venv/bin/cmake" --version 2>/dev/null | awk 'NR == 1 { print $3 }') || true
    if ! printf '%s\n' 3.28 "${version:-0}" | sort -V -C; then
        log "installing CMake >= 3.28 from PyPI into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q 'cmake>=3.28,<5'
    fi
    mkdir -p "$tools/bin"
    ln -sf "$venv/bin/cmake" "$tools/bin/cmake"
    export CMAKE="$tools/bin/cmake"
    case ":$PATH:" in
        *":$tools/bin:"*) ;;
        *) export PATH="$tools/bin:$PATH" ;;
    esac
}
