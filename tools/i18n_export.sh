#!/usr/bin/env bash
# Re-export i18n/o365_calendar_sync.pot with Odoo's own tooling, then bring the French and
# German translations in line with it. Run it after any change to a user-facing string
# (views, fields, Python messages, plain words, JS/QWeb), then translate what it reports.
#
#   tools/i18n_export.sh          export the template, merge it into i18n/*.po, report
#
# It installs the module in a fresh scratch database (O365_I18N_DB, default
# <test database>_i18n_export; dropped again at the end) and runs
#   odoo-bin -d DB --i18n-export=i18n/o365_calendar_sync.pot --modules=o365_calendar_sync --stop-after-init
# Then every i18n/<lang>.po is merged with the new template by gettext's msgmerge (no fuzzy
# matching: a changed sentence shows up as untranslated, never as a guess), with the
# translations kept ahead in tools/i18n_compendium/<lang>.po for words not exported yet. The script exits
# non-zero while a .po has untranslated or fuzzy entries, and lists them; tests/test_i18n.py
# fails in that case too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

DB=${O365_I18N_DB:-${O365_TEST_DB:-o365_test}_i18n_export}
POT="$REPO/i18n/o365_calendar_sync.pot"
mkdir -p "$REPO/i18n"

say "installing the module in a scratch database ($DB)"
drop_db "$DB"
trap 'drop_db "$DB"; rm -f "$REPO/i18n/new.pot"' EXIT
odoo_run -d "$DB" -i o365_calendar_sync --without-demo=all --stop-after-init --log-level=warn

say "exporting $POT"
odoo_run -d "$DB" --i18n-export="$REPO/i18n/new.pot" --modules=o365_calendar_sync --stop-after-init --log-level=warn
# Odoo stamps the export time in the header: keep the old file when nothing else changed.
if [ -f "$POT" ] && diff -q <(grep -v '^"\(POT-Creation\|PO-Revision\)-Date' "$POT") \
    <(grep -v '^"\(POT-Creation\|PO-Revision\)-Date' "$REPO/i18n/new.pot") >/dev/null; then
    rm -f "$REPO/i18n/new.pot"
    say "the template did not change"
else
    mv -f "$REPO/i18n/new.pot" "$POT"
fi

command -v msgmerge >/dev/null || die "msgmerge (gettext) is missing: install gettext to merge the .po files."
status=0
for po in "$REPO"/i18n/*.po; do
    [ -e "$po" ] || continue
    # Translations written ahead for words not on this branch yet (tools/i18n_compendium/<lang>.po)
    # fill the entries whose msgid matches exactly.
    compendium=("$REPO/tools/i18n_compendium/$(basename "$po")")
    [ -f "${compendium[0]}" ] && compendium=(--compendium="${compendium[0]}") || compendium=()
    msgmerge --quiet --no-fuzzy-matching --no-wrap --update --backup=none "${compendium[@]}" "$po" "$POT"
    # msgmerge keeps removed entries as "#~" comments: they are history, not translations.
    msgattrib --no-obsolete --no-wrap --output-file="$po" "$po"
    # "12 translated messages, 3 untranslated messages, 1 fuzzy translation."
    stats=$(LC_ALL=C msgfmt --statistics --output-file=/dev/null "$po" 2>&1)
    untranslated=$(grep -o '[0-9]* untranslated' <<<"$stats" | cut -d' ' -f1 || true)
    fuzzy=$(grep -o '[0-9]* fuzzy' <<<"$stats" | cut -d' ' -f1 || true)
    untranslated=${untranslated:-0} fuzzy=${fuzzy:-0}
    if [ "$untranslated" -gt 0 ] || [ "$fuzzy" -gt 0 ]; then
        say "$(basename "$po"): $untranslated untranslated, $fuzzy fuzzy: translate them (msgattrib --untranslated $po)"
        status=1
    else
        say "$(basename "$po"): complete"
    fi
done
exit $status
