# shellcheck shell=bash
# Sourced by tools/demo.sh and tools/test.sh: finds Odoo 18, prepares a Python
# environment with everything the module, its tests and its linters need, makes
# sure PostgreSQL answers, and writes an Odoo config file. Safe to run again: each
# step is skipped when already done.
#
# Exports: REPO, O365_HOME, PY (python of the environment), ODOO_BIN, ODOO_CONF,
#          ADDONS_DIR (holds this checkout under the module's technical name),
#          CHECKOUT_ID (short hash of REPO), O365_LOGS (full logs of package installs). The exported Odoo and the
#          Python environment are shared by every checkout; the addons folder and
#          the Odoo config are per checkout, so two checkouts never test each
#          other's code.
#
# Knobs (environment variables):
#   ODOO_SRC   path of an Odoo 18.0 source tree (the folder holding odoo-bin)
#   ODOO_GIT   path of a (bare) git repository of Odoo 18.0 source, exported once
#   ODOO_URL   where to clone Odoo 18.0 from when none is found (default the official
#              repository; O365_NO_FETCH=1 never clones)
#   O365_HOME  where the environment lives (default ~/.cache/o365_calendar_sync)
#   PGHOST / PGPORT / PGUSER   PostgreSQL server (default 127.0.0.1:5432, current user)
#   O365_HTTP_PORT   Odoo's HTTP port in the tests' config (default 8069); a second
#              checkout testing at the same time needs another one

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
O365_HOME=${O365_HOME:-$HOME/.cache/o365_calendar_sync}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-$(id -un)}
export REPO O365_HOME PGHOST PGPORT PGUSER
mkdir -p "$O365_HOME"

say() { printf '[o365] %s\n' "$*" >&2; }
die() { printf '[o365] ERROR: %s\n' "$*" >&2; exit 1; }
O365_LOGS="$O365_HOME/logs"
mkdir -p "$O365_LOGS"
export O365_LOGS

# quietly NAME MESSAGE COMMAND...: one line (MESSAGE) for an install step; the
# command's full output goes to $O365_LOGS/NAME.log, whose end is shown only when
# it fails.
quietly() {
    local log="$O365_LOGS/$1.log" message=$2
    shift 2
    say "$message (log: $log)"
    if ! "$@" > "$log" 2>&1; then
        grep -v '^WARNING: Location' "$log" | tail -n 30 >&2
        return 1
    fi
}

is_odoo18_tree() { [ -f "$1/odoo/release.py" ] && grep -q "version_info = (18, 0" "$1/odoo/release.py"; }

find_odoo_git() {
    # A bare mirror of an Odoo 18 source repository, e.g. one brought by a code
    # search tool's fetch next to this checkout.
    local candidate
    for candidate in ${ODOO_GIT:-} "$REPO"/../.mirror/*/repo "$REPO"/../../.mirror/*/repo; do
        [ -d "$candidate" ] || continue
        git --git-dir="$candidate" show HEAD:odoo/release.py 2>/dev/null | grep -q "version_info = (18, 0" &&
            { echo "$candidate"; return 0; }
    done
    return 1
}

clone_odoo() {
    # A shallow clone of Odoo 18.0 into the cache, when git and the network allow
    # it. A closed network fails in seconds: the server is asked first with a short
    # timeout, and a clone that stalls (under 1 kB/s for 60 s) or runs past 10
    # minutes is abandoned.
    local url=${ODOO_URL:-https://github.com/odoo/odoo}
    [ -z "${O365_NO_FETCH:-}" ] && command -v git >/dev/null || return 1
    export GIT_TERMINAL_PROMPT=0 GIT_HTTP_LOW_SPEED_LIMIT=1000 GIT_HTTP_LOW_SPEED_TIME=60
    timeout 30 git ls-remote --exit-code --heads "$url" 18.0 >/dev/null 2>&1 || return 1
    rm -rf "$O365_HOME/odoo-18.part"
    if ! quietly odoo-clone "cloning Odoo 18.0 from $url into $O365_HOME/odoo-18 (a few minutes)" \
        timeout 600 git clone --quiet --depth 1 --single-branch --branch 18.0 "$url" "$O365_HOME/odoo-18.part"; then
        rm -rf "$O365_HOME/odoo-18.part"
        return 1
    fi
    is_odoo18_tree "$O365_HOME/odoo-18.part" || { rm -rf "$O365_HOME/odoo-18.part"; return 1; }
    mv "$O365_HOME/odoo-18.part" "$O365_HOME/odoo-18"
}

locate_odoo() {
    if [ -n "${ODOO_SRC:-}" ]; then
        is_odoo18_tree "$ODOO_SRC" || die "ODOO_SRC=$ODOO_SRC is not an Odoo 18.0 source tree (no odoo/release.py of version 18.0)."
        echo "$ODOO_SRC"; return
    fi
    local importable
    importable=$(python3 -c 'import os, odoo.release as r; assert r.version_info[0] == 18; print(os.path.dirname(os.path.dirname(r.__file__)))' 2>/dev/null || true)
    if [ -n "$importable" ]; then echo "$importable"; return; fi
    if is_odoo18_tree "$O365_HOME/odoo-18"; then echo "$O365_HOME/odoo-18"; return; fi
    local git_dir
    if git_dir=$(find_odoo_git); then
        say "exporting Odoo 18 source from $git_dir to $O365_HOME/odoo-18"
        rm -rf "$O365_HOME/odoo-18.part" && mkdir -p "$O365_HOME/odoo-18.part"
        git --git-dir="$git_dir" archive HEAD odoo odoo-bin requirements.txt | tar -x -C "$O365_HOME/odoo-18.part"
        mv "$O365_HOME/odoo-18.part" "$O365_HOME/odoo-18"
        echo "$O365_HOME/odoo-18"; return
    fi
    if clone_odoo; then echo "$O365_HOME/odoo-18"; return; fi
    die "No Odoo 18 found and it could not be cloned from ${ODOO_URL:-https://github.com/odoo/odoo}: make 'odoo' (18.0) importable in python3, or set ODOO_SRC=/path/to/odoo-18.0 (a checkout of github.com/odoo/odoo, branch 18.0)."
}

ODOO_SRC=$(locate_odoo)
ODOO_BIN="$ODOO_SRC/odoo-bin"
[ -f "$ODOO_BIN" ] || ODOO_BIN="$(dirname "$(command -v python3)")/odoo"
export ODOO_SRC ODOO_BIN

# --- Python environment -------------------------------------------------------
VENV="$O365_HOME/venv"
PY="$VENV/bin/python"
requirements_stamp() {
    cat "$REPO/tools/odoo-requirements.txt" "$REPO/requirements.txt" "$REPO/tools/test-requirements.txt" \
        "$REPO/graph_emulator/requirements.txt" "$REPO/graph_emulator/requirements-test.txt" 2>/dev/null | sha1sum | cut -c1-12
}
stamp=$(requirements_stamp)
if [ ! -x "$PY" ] || [ "$(cat "$VENV/.o365-stamp" 2>/dev/null)" != "$stamp" ]; then
    command -v python3 >/dev/null || die "python3 is missing: install Python 3.11 or 3.12."
    [ -x "$PY" ] || python3 -m venv "$VENV" || die "python3 -m venv failed: install the python3-venv package."
    reqs=(-r "$REPO/tools/odoo-requirements.txt" -r "$REPO/requirements.txt" -r "$REPO/tools/test-requirements.txt"
          -r "$REPO/graph_emulator/requirements-test.txt")
    quietly pip "installing the Python packages in $VENV (a few minutes the first time)" \
        bash -c '"$0" -m pip install -q --disable-pip-version-check --upgrade pip wheel &&
                 "$0" -m pip install -q --disable-pip-version-check "$@"' "$PY" "${reqs[@]}" ||
        die "pip could not install the Python packages (log: $O365_LOGS/pip.log): check access to PyPI."
    echo "$stamp" > "$VENV/.o365-stamp"
fi
# Odoo is not a pip package here: put its source on the environment's path.
site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$ODOO_SRC" > "$site/odoo18-source.pth"
"$PY" -c 'import odoo.release as r; assert r.version_info[0] == 18' 2>/dev/null ||
    die "Odoo at $ODOO_SRC does not import with $PY."
export PY VENV
export PATH="$VENV/bin:$PATH"

# The Graph emulator is a package of its own (graph_emulator/pyproject.toml) and the
# tests import it by name. An editable install points the environment at this
# checkout's folder; it is redone only when the environment points elsewhere (it is
# shared by every checkout), so a second run costs one Python start. Asked from / so
# that a graph_emulator folder in the current directory does not answer instead.
emulator_dir=$(cd / && "$PY" -c 'import os, graph_emulator; print(os.path.dirname(os.path.realpath(graph_emulator.__file__)))' 2>/dev/null || true)
if [ "$emulator_dir" != "$(realpath "$REPO/graph_emulator")" ]; then
    # Without build isolation when the environment has a recent setuptools: no download.
    isolation=()
    "$PY" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 64)' 2>/dev/null &&
        isolation=(--no-build-isolation)
    quietly emulator "installing the Graph emulator (graph_emulator/) as a package in $VENV" \
        "$PY" -m pip install -q --disable-pip-version-check --no-deps "${isolation[@]}" -e "$REPO/graph_emulator" ||
        die "pip could not install graph_emulator (log: $O365_LOGS/emulator.log)."
fi

# --- PostgreSQL -----------------------------------------------------------------
if ! pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        say "starting the local PostgreSQL cluster"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -n1)" main start || true
    elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        quietly apt-postgresql "installing PostgreSQL from the system packages" \
            bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql' ||
            die "PostgreSQL is not running and could not be installed: start a PostgreSQL 13+ server and set PGHOST/PGPORT/PGUSER."
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -n1)" main start || true
    fi
    for _ in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
    pg_isready -q -h "$PGHOST" -p "$PGPORT" ||
        die "No PostgreSQL answers on $PGHOST:$PGPORT: start one, or set PGHOST/PGPORT/PGUSER."
fi
if ! psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    # A fresh server knows only 'postgres'; give the current user a role that can create databases.
    psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qc "CREATE ROLE \"$PGUSER\" LOGIN CREATEDB SUPERUSER" >/dev/null 2>&1 ||
        su postgres -c "psql -qc 'CREATE ROLE \"$PGUSER\" LOGIN CREATEDB SUPERUSER'" >/dev/null 2>&1 ||
        die "PostgreSQL refuses user $PGUSER: create that role, or set PGUSER to one that can create databases."
fi

# --- Odoo addons path and config ----------------------------------------------------
# Odoo finds a module by its folder name, and this checkout may be named anything.
# Each checkout gets its own addons folder and config (named after a hash of its
# path), so two checkouts on one machine never load each other's code.
CHECKOUT_ID=$(printf '%s' "$REPO" | sha1sum | cut -c1-10)
ADDONS_DIR="$O365_HOME/addons-$CHECKOUT_ID"
mkdir -p "$ADDONS_DIR"
ln -sfn "$REPO" "$ADDONS_DIR/o365_calendar_sync"
ODOO_CONF="$O365_HOME/odoo-$CHECKOUT_ID.conf"
core_addons="$ODOO_SRC/odoo/addons"
[ -d "$ODOO_SRC/addons/web" ] && core_addons="$ODOO_SRC/addons,$core_addons"
cat > "$ODOO_CONF.$$" <<EOF
[options]
addons_path = $ADDONS_DIR,$core_addons
data_dir = $O365_HOME/filestore
db_host = $PGHOST
db_port = $PGPORT
db_user = $PGUSER
db_password = False
admin_passwd = admin
list_db = True
http_port = ${O365_HTTP_PORT:-8069}
gevent_port = $(( ${O365_HTTP_PORT:-8069} + 3 ))
EOF
mv -f "$ODOO_CONF.$$" "$ODOO_CONF"
export CHECKOUT_ID ADDONS_DIR ODOO_CONF

# drop_db NAME: drop a database if it exists, without PostgreSQL's notice when not.
drop_db() {
    PGOPTIONS="-c client_min_messages=warning" dropdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$1"
}

# odoo_run [SUBCOMMAND] ARGS...: odoo-bin with the generated config (a subcommand
# such as "shell" must come before the options).
odoo_run() {
    local command=()
    if [ $# -gt 0 ] && [[ "$1" != -* ]]; then command=("$1"); shift; fi
    "$PY" "$ODOO_BIN" "${command[@]}" -c "$ODOO_CONF" "$@"
}
