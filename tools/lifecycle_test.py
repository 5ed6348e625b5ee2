"""Install and uninstall the module in fresh databases, as the Apps menu does.

Run by tools/test.sh with the environment of tools/env.sh (PY, ODOO_BIN,
ODOO_CONF, PGHOST...). Each case builds its own database and drops it after.
"""

import os
import subprocess
import uuid

import pytest

MODULE = "o365_calendar_sync"
MODULE_TABLES = (
    "o365_sync_account",
    "o365_event_link",
    "o365_push_queue",
    "o365_pull_request",
    "o365_event_exclusion",
)


def odoo(*args, subcommand=(), stdin=None):
    cmd = [
        os.environ["PY"],
        os.environ["ODOO_BIN"],
        *subcommand,
        "-c",
        os.environ["ODOO_CONF"],
        "--log-level=warn",
        *args,
    ]
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    # Odoo logs a failed data file or a traceback and may still exit 0.
    for marker in ("Traceback", "ERROR ", "CRITICAL "):
        assert marker not in done.stderr, f"{' '.join(args)} logged a problem:\n{done.stderr[-5000:]}"
    return done.stdout


def sql(db, query):
    done = subprocess.run(
        [
            "psql",
            "-h",
            os.environ["PGHOST"],
            "-p",
            os.environ["PGPORT"],
            "-U",
            os.environ["PGUSER"],
            "-d",
            db,
            "-Atc",
            query,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def module_state(db):
    return sql(db, f"SELECT state FROM ir_module_module WHERE name = '{MODULE}'")


def table_exists(db, table):
    return sql(db, f"SELECT to_regclass('public.{table}') IS NOT NULL") == "t"


def apps_menu(db, button):
    """Press Install or Uninstall on the module's card, as an administrator would."""
    odoo(
        "-d",
        db,
        "--no-http",
        subcommand=["shell"],
        stdin=f"env['ir.module.module'].search([('name', '=', '{MODULE}')]).{button}()\nenv.cr.commit()\n",
    )


@pytest.fixture
def fresh_db():
    name = f"o365_lifecycle_{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(
        [
            "dropdb",
            "-h",
            os.environ["PGHOST"],
            "-p",
            os.environ["PGPORT"],
            "-U",
            os.environ["PGUSER"],
            "--if-exists",
            name,
        ],
        check=False,
    )


@pytest.mark.parametrize("demo", [False, True], ids=["without-demo", "with-demo"])
def test_install_uninstall_reinstall(fresh_db, demo):
    """Issue 2: the module installs, uninstalls and installs again from the Apps menu."""
    odoo("-d", fresh_db, "-i", "calendar,hr_holidays", "--stop-after-init", *([] if demo else ["--without-demo=all"]))
    assert module_state(fresh_db) == "uninstalled"

    apps_menu(fresh_db, "button_immediate_install")
    assert module_state(fresh_db) == "installed"
    assert all(table_exists(fresh_db, t) for t in MODULE_TABLES)

    apps_menu(fresh_db, "button_immediate_uninstall")
    assert module_state(fresh_db) == "uninstalled"
    assert not any(table_exists(fresh_db, t) for t in MODULE_TABLES)
    assert sql(fresh_db, f"SELECT count(*) FROM ir_model_data WHERE module = '{MODULE}'") == "0"

    apps_menu(fresh_db, "button_immediate_install")
    assert module_state(fresh_db) == "installed"
