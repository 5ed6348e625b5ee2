#!/usr/bin/env bash
# Try the whole feature without an Azure tenant: starts the Graph emulator with a
# demo tenant, prepares the Odoo database o365_demo (module installed with demo
# data, settings pointed at the emulator, users and customers matching the demo
# mailboxes) and runs Odoo on http://localhost:8069 until Ctrl-C.
#
#   O365_DEMO_DB=name   database (default o365_demo; reused when it exists)
#   O365_DEMO_RESET=1   drop and rebuild the database
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

DB=${O365_DEMO_DB:-o365_demo}
ODOO_PORT=${O365_DEMO_PORT:-8069}
EMULATOR_DIR="$O365_HOME/emulator"
mkdir -p "$EMULATOR_DIR"

for port in "$ODOO_PORT" 8443 8480; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is already in use: stop what runs there (another demo?) and try again."
    fi
done

say "starting the Graph emulator (https://127.0.0.1:8443, consent pages on http://127.0.0.1:8480)"
"$PY" -m graph_emulator --port 8443 --http-port 8480 --data-dir "$EMULATOR_DIR" --demo > "$O365_HOME/emulator.log" 2>&1 &
emulator_pid=$!
trap 'kill $emulator_pid 2>/dev/null; wait $emulator_pid 2>/dev/null; say "stopped"' EXIT
for _ in $(seq 1 50); do [ -f "$EMULATOR_DIR/ca.pem" ] && (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null && break; sleep 0.2; done
kill -0 $emulator_pid 2>/dev/null || die "the Graph emulator did not start: see $O365_HOME/emulator.log"

if [ -n "${O365_DEMO_RESET:-}" ]; then dropdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$DB"; fi
if ! psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -Atc "select 1 from ir_module_module where name='o365_calendar_sync' and state='installed'" 2>/dev/null | grep -q 1; then
    say "creating database $DB with the module and demo data (about a minute)"
    dropdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$DB"
    odoo_run -d "$DB" -i o365_calendar_sync --stop-after-init --log-level=warn
else
    odoo_run -d "$DB" -u o365_calendar_sync --stop-after-init --log-level=warn
fi
O365_EMULATOR_URL=https://127.0.0.1:8443 O365_EMULATOR_CA="$EMULATOR_DIR/ca.pem" O365_ODOO_URL="http://localhost:$ODOO_PORT" \
    odoo_run shell -d "$DB" --no-http --log-level=warn < tools/demo_setup.py

cat <<EOF

  Odoo:      http://localhost:$ODOO_PORT   (database $DB)
             administrator: admin / admin; salespeople: alex / alex, sam / sam
  Outlook:   https://127.0.0.1:8443/_emulator/ui  (the emulator's calendars; CA: $EMULATOR_DIR/ca.pem)
  Try:       log in as alex, Preferences > Microsoft 365 > Connect, then Calendar > Start Syncing.
  Stop:      Ctrl-C

EOF
odoo_run -d "$DB" --http-port "$ODOO_PORT" --db-filter "^$DB\$" --log-level=info
