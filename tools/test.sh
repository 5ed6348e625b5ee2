#!/usr/bin/env bash
# The whole test suite, from a fresh machine: environment, lint, the Graph
# emulator's own tests, install/uninstall checks, then the module's tests on real
# Odoo 18 and PostgreSQL. Exits non-zero on any failure; under CI (CI=true) a
# skipped test is a failure too, since a skip proves nothing.
#
#   tools/test.sh              everything
#   tools/test.sh -k connect   extra arguments go to the module's pytest run
#   O365_TEST_DB=name          test database (default o365_test; kept between runs)
#   O365_SKIP_LIFECYCLE=1      skip the slow install/uninstall, fault and race checks (local runs only)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

# Browser tours (Odoo's HttpCase.start_tour) need Chromium; Debian's package provides it.
if ! command -v chromium >/dev/null && ! command -v google-chrome >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        quietly apt-chromium "installing Chromium for the browser tests" \
            bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium' ||
            die "Chromium could not be installed: install it (Debian: apt-get install chromium) for the browser tests."
    else
        say "no Chromium found: browser tests will be skipped (a failure under CI); install chromium"
    fi
fi

DB=${O365_TEST_DB:-o365_test}
RESULTS="$O365_HOME/results-$CHECKOUT_ID"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
started=$(date +%s)

say "lint: ruff and pylint-odoo"
"$PY" -m ruff check --quiet . || die "ruff found problems (above): fix them, or run '$PY -m ruff check --fix .'"
"$PY" -m ruff format --check --quiet . || die "ruff format would change files: run '$PY -m ruff format .'"
"$PY" -m pylint --rcfile="$REPO/.pylintrc" --score=n "$REPO" || die "pylint-odoo found problems (above)."

say "citations: every requirement id and facts section cited is defined in doc/"
"$PY" tools/check_citations.py || die "a citation above resolves to nothing in doc/REQUIREMENTS.md or doc/GRAPH_FACTS.md."

# The layers (issue 24): models never import the jobs, and the jobs call no private method of a
# model but the record hooks declared by the o365.calendar.sync mixin (models/o365_calendar_sync.py).
! grep -rnE "from \.\.+engine|import engine" models/ || die "models/ import engine/ (above): the crons are engine/cron.py."
hooks=$(grep -oE "def _o365_[a-z_]+" models/o365_calendar_sync.py | cut -c5- | paste -sd'|')
private=$(grep -nE "[]a-z)]\._[a-z]" engine/*.py | grep -vE "self\._|\._name\b|\.(${hooks})\(" || true)
[ -z "$private" ] || die "engine/ calls private model methods (make them public and @api.private, or declare a hook):
$private"

# Odoo's own runner (odoo-bin --test-enable) finds only the test files tests/__init__.py imports.
unlisted=$(for f in tests/test_*.py; do m=$(basename "$f" .py); grep -qx "from \. import $m" tests/__init__.py || echo "$m"; done)
[ -z "$unlisted" ] || die "tests/__init__.py does not import: $unlisted (Odoo's --test-enable would skip them); add them."

say "the Graph emulator's own tests"
"$PY" -m pytest -p no:odoo -q graph_emulator/tests --junitxml="$RESULTS/emulator.xml"
say "the benchmark's own tests (its profile summaries)"
"$PY" -m pytest -p no:odoo -q bench/tests --junitxml="$RESULTS/bench.xml"

if [ "${CI:-}" = true ] || [ -z "${O365_SKIP_LIFECYCLE:-}" ]; then
    say "install and uninstall in fresh databases, with and without demo data"
    "$PY" -m pytest -p no:odoo -q tools/lifecycle_test.py --junitxml="$RESULTS/lifecycle.xml"
    say "fault tests on real processes (private PostgreSQL, emulator, odoo-bin; about 6 minutes)"
    "$PY" -m pytest -p no:odoo -q tools/fault_test.py --junitxml="$RESULTS/faults.xml"
    say "race suite on real processes (two servers, two cron threads each; three passes, about 6 minutes)"
    "$PY" -m pytest -p no:odoo -q tools/race_test.py --junitxml="$RESULTS/races.xml"
fi

# The test database keeps the module installed between runs; it is upgraded
# whenever the module's files change, and rebuilt if the upgrade fails.
module_stamp=$(git ls-files -co --exclude-standard -- . ':!tests' ':!graph_emulator' ':!tools' ':!bench' |
    sort | xargs sha1sum 2>/dev/null | sha1sum | cut -c1-12)
stamp_file="$O365_HOME/$DB.stamp"
# CI starts from a fresh database: what a newcomer's first run would do.
[ "${CI:-}" = true ] && rm -f "$stamp_file" && drop_db "$DB"
if ! psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -Atc "select 1 from ir_module_module where name='o365_calendar_sync' and state='installed'" 2>/dev/null | grep -q 1; then
    say "creating test database $DB with the module installed"
    drop_db "$DB"
    odoo_run -d "$DB" -i o365_calendar_sync --without-demo=all --stop-after-init --log-level=warn
elif [ "$(cat "$stamp_file" 2>/dev/null)" != "$module_stamp" ]; then
    say "upgrading the module in $DB"
    odoo_run -d "$DB" -u o365_calendar_sync --stop-after-init --log-level=warn || {
        say "upgrade failed; rebuilding $DB"
        drop_db "$DB"
        odoo_run -d "$DB" -i o365_calendar_sync --without-demo=all --stop-after-init --log-level=warn
    }
fi
echo "$module_stamp" > "$stamp_file"

say "the module's tests on Odoo 18 ($DB)"
# Run from the addons folder so pytest-odoo sees the module under its technical name.
(cd "$ADDONS_DIR/o365_calendar_sync" && "$PY" -m pytest -q \
    --odoo-config="$ODOO_CONF" --odoo-database="$DB" --odoo-http \
    --junitxml="$RESULTS/module.xml" "$ADDONS_DIR/o365_calendar_sync/tests" "$@")

"$PY" "$REPO/tools/test_summary.py" "$RESULTS" --seconds $(( $(date +%s) - started ))
