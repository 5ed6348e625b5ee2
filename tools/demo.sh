#!/usr/bin/env bash
# Try the whole feature without an Azure tenant: starts the Graph emulator with a
# demo tenant, prepares the Odoo database o365_demo (module installed with demo
# data, settings pointed at the emulator, users and customers matching the demo
# mailboxes) and runs Odoo on http://localhost:8069 until Ctrl-C.
#
#   O365_DEMO_DB=name            database (default o365_demo; reused when it exists)
#   O365_DEMO_RESET=1            drop and rebuild the database
#   O365_DEMO_PORT=8069          Odoo's HTTP port
#   O365_DEMO_GRAPH_PORT=8443    the emulator's HTTPS port (Graph and sign-in)
#   O365_DEMO_HTTP_PORT=8480     the emulator's plain-HTTP port (consent and calendar pages)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

DB=${O365_DEMO_DB:-o365_demo}
ODOO_PORT=${O365_DEMO_PORT:-8069}
GRAPH_PORT=${O365_DEMO_GRAPH_PORT:-8443}
EMULATOR_HTTP_PORT=${O365_DEMO_HTTP_PORT:-8480}
EMULATOR_DIR="$O365_HOME/emulator-$DB"
mkdir -p "$EMULATOR_DIR"
# What a salesperson works with: Contacts, CRM when this Odoo has it (the module
# itself brings Calendar and Time Off).
MODULES=o365_calendar_sync,contacts
for addon in crm; do
    for root in ${core_addons//,/ }; do
        if [ -f "$root/$addon/__manifest__.py" ]; then MODULES="$MODULES,$addon"; break; fi
    done
done

for port in "$ODOO_PORT" "$GRAPH_PORT" "$EMULATOR_HTTP_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is already in use: stop what runs there (another demo?) and try again."
    fi
done

EMULATOR_LOG="$O365_LOGS/emulator-$DB.log"
say "starting the Graph emulator (https://127.0.0.1:$GRAPH_PORT, consent pages on http://127.0.0.1:$EMULATOR_HTTP_PORT)"
"$PY" -m graph_emulator --port "$GRAPH_PORT" --http-port "$EMULATOR_HTTP_PORT" --data-dir "$EMULATOR_DIR" --demo > "$EMULATOR_LOG" 2>&1 &
emulator_pid=$!
trap 'kill $emulator_pid 2>/dev/null; wait $emulator_pid 2>/dev/null; say "stopped"' EXIT
for _ in $(seq 1 50); do [ -f "$EMULATOR_DIR/ca.pem" ] && (exec 3<>"/dev/tcp/127.0.0.1/$GRAPH_PORT") 2>/dev/null && break; sleep 0.2; done
kill -0 $emulator_pid 2>/dev/null || die "the Graph emulator did not start: see $EMULATOR_LOG"

if [ -n "${O365_DEMO_RESET:-}" ]; then drop_db "$DB"; fi
if ! psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -Atc "select 1 from ir_module_module where name='o365_calendar_sync' and state='installed'" 2>/dev/null | grep -q 1; then
    drop_db "$DB"
    quietly "odoo-install-$DB" "creating database $DB with $MODULES and demo data (a few minutes)" \
        odoo_run -d "$DB" -i "$MODULES" --stop-after-init --log-level=warn ||
        die "Odoo could not create $DB (log: $O365_LOGS/odoo-install-$DB.log)"
else
    missing=$(psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -Atc \
        "select string_agg(name, ',') from ir_module_module where name = any(string_to_array('$MODULES', ',')) and state <> 'installed'")
    if [ -n "$missing" ]; then
        quietly "odoo-install-$DB" "installing $missing in $DB" \
            odoo_run -d "$DB" -i "$missing" --stop-after-init --log-level=warn ||
            die "Odoo could not install $missing (log: $O365_LOGS/odoo-install-$DB.log)"
    fi
    quietly "odoo-upgrade-$DB" "upgrading the module in $DB" \
        odoo_run -d "$DB" -u o365_calendar_sync --stop-after-init --log-level=warn ||
        die "Odoo could not upgrade the module in $DB (log: $O365_LOGS/odoo-upgrade-$DB.log)"
fi
export O365_EMULATOR_URL="https://127.0.0.1:$GRAPH_PORT" O365_EMULATOR_CA="$EMULATOR_DIR/ca.pem" \
    O365_ODOO_URL="http://localhost:$ODOO_PORT"
odoo_run shell -d "$DB" --no-http --log-level=warn < tools/demo_setup.py

cat <<EOF

  Odoo:      http://localhost:$ODOO_PORT   (database $DB)
             administrator: admin / admin; salespeople: alex / alex, sam / sam; their manager: kim / kim
  Outlook:   http://127.0.0.1:$EMULATOR_HTTP_PORT/_emulator/ui  (the emulator's calendars; click a subject for the whole event)
  Try:       log in as alex, Preferences > Microsoft 365 > Connect, then Calendar > Start Syncing;
             README.rst, "Demo walkthrough", goes through every feature.
  Logs:      $O365_LOGS   Stop: Ctrl-C

EOF
odoo_run -d "$DB" --http-port "$ODOO_PORT" --db-filter "^$DB\$" --log-level=info
