"""The locks the sync takes, in the one order every path takes them (issue 28).

A lower layer: the jobs (engine/) and the records' own actions (models/: Start, Stop,
Connect) both take these locks, and models never import the engine, so they live here.

Odoo runs each request and each cron job in a REPEATABLE READ transaction: two
transactions that write the same row fail the later one with a serialization failure,
and Odoo replays a request from the start. That is harmless for a save, harmful for a
request that already did something outside the database (redeemed a sign-in code,
created a subscription at Graph), and each failure of a job is a traceback in the log.
The sync therefore orders its writers instead of letting them collide:

1. **The job's mailbox lock** (advisory, ``PUSH_LOCK_CLASS`` / ``PULL_LOCK_CLASS`` below,
   per account): "a pusher / a puller is on this mailbox". The push
   takes it with ``pg_try_advisory_xact_lock`` on its own lock connection, the pull with
   ``pg_try_advisory_lock`` on its cursor's session (it outlives the pull's step commits,
   and is released at the end); held for the whole mailbox run, never waited for: a busy
   mailbox is skipped and its work stays queued.
2. **The account row** (``o365_sync_account ... FOR UPDATE``): whoever changes what the
   mailbox's sync *is* (Start, Stop, Connect, Disconnect, the sign-in callback, the pull
   recording a subscription) holds it: ``lock_accounts`` below, in id order. The sign-in
   callback takes it *before* redeeming the code: a conflict then fails before anything
   left Odoo, and the replay starts clean.
3. **The meeting's iCalUId, then its customers** (advisory, ``MEETING_LOCK_CLASS`` per
   iCalUId, then ``CONTACT_LOCK_CLASS`` per contact, each in sorted order, all of a page
   at once): held by the pull from "is this meeting logged already?" until the page that
   logs or attaches it commits, so two mailboxes' pulls of one meeting make one record
   (B12), and two pulls never add the same colleague as a follower of the same customer
   at the same moment (Odoo would insert that follower twice).
4. **Rows**: links, queue rows (the push's ``FOR UPDATE [SKIP LOCKED]``), meetings and
   their to-dos, in the order the ORM writes them.

The jobs' own transactions (push rounds, pull rounds, and the queueing of pulls by the
notification controller and the renewal cron, ``short_transaction``) run in READ
COMMITTED (``job_cursor``): a statement that waited for a lock
reads what the holder committed, instead of failing on it, so the normal concurrency of
users, push and pull raises no serialization failure in a job. Everything a job decides
from a row it then writes is either under one of the locks above or re-read under the
row's lock. A race that remains (a deadlock PostgreSQL broke, a user's transaction) is
retried, and logged as one INFO line (``is_race``), never an ERROR traceback.
"""

import contextlib
import zlib
from datetime import timedelta

import psycopg2
import psycopg2.errors
from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED

from odoo import SUPERUSER_ID, api, sql_db

# Advisory-lock classes for "a worker is on this mailbox": one pusher and one puller per
# mailbox whatever the number of Odoo workers, without locking any table row (a user's
# save, or the other job, never waits for Graph).
PUSH_LOCK_CLASS = 365_001
PULL_LOCK_CLASS = 365_002
MEETING_LOCK_CLASS = 365_003
CONTACT_LOCK_CLASS = 365_004
# A pull queued only for notified versions that may be Odoo's own writes waits this long at
# most for the push of its mailbox to let go of the push lock (o365.pull.request.settle_echoes).
ECHO_WAIT = timedelta(seconds=60)
# What PostgreSQL raises when two transactions meet: a serialization failure, a deadlock
# broken, a lock not available (NOWAIT).
RACES = (psycopg2.errors.TransactionRollbackError, psycopg2.errors.LockNotAvailable)


def is_race(exc):
    """True for a conflict between concurrent transactions: retried, logged as INFO."""
    return isinstance(exc, RACES)


def read_committed(cr):
    """Put a fresh cursor of Odoo (no statement run yet) in READ COMMITTED for its life.

    Odoo sets REPEATABLE READ again on the connection when it lends it to the next cursor.
    A test's cursor (shared with the test's own transaction) is left as it is."""
    if type(cr) is sql_db.Cursor and not cr._cnx.info.transaction_status:  # pylint: disable=protected-access
        cr._cnx.set_isolation_level(ISOLATION_LEVEL_READ_COMMITTED)  # pylint: disable=protected-access
    return cr


@contextlib.contextmanager
def job_cursor(cursor_factory):
    """A cursor of ``cursor_factory`` for a job's transactions, in READ COMMITTED."""
    with cursor_factory() as cr:
        yield read_committed(cr)


@contextlib.contextmanager
def short_transaction(env):
    """An environment (superuser) on a transaction of its own in READ COMMITTED, committed at the
    end of the block: for a small write (queueing a pull) that a request or a cron must not make
    in its own REPEATABLE READ transaction, where a concurrent write to the same rows (or to the
    account its foreign key points at) fails it. A test's registry has one transaction: ``env``
    is used as it is."""
    if env.registry.in_test_mode():
        yield env(su=True)
        return
    with job_cursor(env.registry.cursor) as cr:
        yield api.Environment(cr, SUPERUSER_ID, {})


def mailbox_lock(cr, lock_class, account_id):
    """Step 1 of the order: take the mailbox's advisory lock for this transaction; False if
    another worker has it."""
    cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [lock_class, account_id])
    return cr.fetchone()[0]


def mailbox_session_lock(cr, lock_class, account_id):
    """Step 1 of the order, for the cursor's session: held across the commits of its
    transactions (the pull commits step by step); False if another worker has it. Released by
    ``mailbox_session_unlock``."""
    cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [lock_class, account_id])
    return cr.fetchone()[0]


def mailbox_session_unlock(cr, lock_class, account_id):
    cr.execute("SELECT pg_advisory_unlock(%s, %s)", [lock_class, account_id])


def lock_accounts(cr, account_ids, nowait=False):
    """Step 2 of the order: lock these accounts' rows (in id order) until the transaction ends."""
    ids = sorted({int(i) for i in account_ids if i})
    if ids:
        cr.execute(
            "SELECT id FROM o365_sync_account WHERE id IN %s ORDER BY id FOR UPDATE" + (" NOWAIT" if nowait else ""),
            [tuple(ids)],
        )


def meeting_key(ical_uid):
    """A 32-bit key for an iCalUId (a collision only serialises two unrelated meetings)."""
    return zlib.crc32(ical_uid.encode()) - 2**31


def lock_meetings(cr, ical_uids):
    """Step 3 of the order: hold these iCalUIds until the transaction ends, in sorted key order
    so two pulls never wait for each other in a circle."""
    for key in sorted({meeting_key(uid) for uid in ical_uids if uid}):
        cr.execute("SELECT pg_advisory_xact_lock(%s, %s)", [MEETING_LOCK_CLASS, key])


def lock_contacts(cr, partner_ids):
    """Step 3 of the order, after the meetings: hold these contacts until the transaction ends."""
    for partner_id in sorted({int(p) for p in partner_ids if p}):
        cr.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CONTACT_LOCK_CLASS, partner_id])
