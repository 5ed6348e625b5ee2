#!/usr/bin/env bash
# The benchmarks, one command: this module against Odoo's own microsoft_calendar, on
# real Odoo 18 and PostgreSQL, against the project's Graph emulator. Writes
# bench/REPORT.md and bench/report.png (raw results and logs in bench/out/).
#
#   tools/bench.sh                      full sizes (1,000 changes, 1,000 events, 200
#                                       latency samples, 200 users x 50 changes)
#   tools/bench.sh --changes 50 --events 50 --latency-samples 20 --users 10
#   tools/bench.sh --only push,msc_push --reuse-db
#   tools/bench.sh --only engine_push,engine_pull --mailboxes 100 --configs a,b,c,a30
#                                       the engine on real odoo-bin servers (bench/engine.py)
#   tools/bench.sh --only engine_push,engine_push_org --mailboxes 2000 --configs a
#                                       the push with per-user sign-ins and with the
#                                       organisation-wide connection (SPEC O1, O2), one run
#   tools/bench.sh --help               every option
#
#   --reuse-db   keep the benchmark databases if they exist (default: rebuild them,
#                so a run starts from a fresh install like the first one)
#   O365_BENCH_DB / O365_BENCH_MSC_DB   database names (o365_bench_o365 / o365_bench_msc)
#   O365_BENCH_ENGINE_DB                the engine benchmark's database (o365_bench_engine;
#                                       engine_push_org uses <that>_org)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

command_line="tools/bench.sh${*:+ $*}"
reuse=
only=
args=()
previous=
for arg in "$@"; do
    case "$arg" in
        --reuse-db) reuse=1; args+=("$arg") ;;
        -h|--help) exec "$PY" -m bench.run --help ;;
        --only=*) only=${arg#--only=}; args+=("$arg") ;;
        *) [ "$previous" = --only ] && only=$arg; args+=("$arg") ;;
    esac
    previous=$arg
done
# wants NAME...: true when --only is absent or names one of the scenarios given.
wants() {
    [ -z "$only" ] && return 0
    local name
    for name in "$@"; do [[ ",$only," == *",$name,"* ]] && return 0; done
    return 1
}
DB=${O365_BENCH_DB:-o365_bench_o365}
DB_MSC=${O365_BENCH_MSC_DB:-o365_bench_msc}

"$PY" -c 'import matplotlib' 2>/dev/null || {
    say "installing the chart library (bench/requirements.txt)"
    "$PY" -m pip install -q --disable-pip-version-check -r "$REPO/bench/requirements.txt" ||
        die "pip could not install bench/requirements.txt: check access to PyPI."
}

installed() {
    psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$1" -Atc \
        "select 1 from ir_module_module where name='$2' and state='installed'" 2>/dev/null | grep -q 1
}
prepare_db() {  # prepare_db DB MODULE
    if [ -n "$reuse" ] && installed "$1" "$2"; then
        say "reusing database $1 ($2 installed)"
        return
    fi
    say "creating database $1 with $2 installed (no demo data)"
    dropdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$1"
    odoo_run -d "$1" -i "$2" --without-demo=all --stop-after-init --log-level=warn ||
        die "installing $2 in $1 failed (above)."
}
# The engine scenarios (engine_push, engine_pull, engine_idle, engine_push_org) build their own
# databases (O365_BENCH_ENGINE_DB, default o365_bench_engine, and <that>_org for the organisation
# mode, copied from an installed template).
if wants push pull latency; then prepare_db "$DB" o365_calendar_sync; fi
if wants msc_push msc_pull; then prepare_db "$DB_MSC" microsoft_calendar; fi

say "running the benchmark scenarios (one process each)"
"$PY" -m bench.run --db "$DB" --db-msc "$DB_MSC" --db-engine "${O365_BENCH_ENGINE_DB:-o365_bench_engine}" \
    --command "$command_line" "${args[@]}"
say "report: $REPO/bench/REPORT.md, chart: $REPO/bench/report.png"
