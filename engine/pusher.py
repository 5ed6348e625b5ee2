"""Odoo -> Outlook: the push job (SPEC E1, E2, E6, E7, S7, O2).

A plain piece, like engine/importer.py: it gets cursors and records, never a model's
class, and calls only the records' declared hooks and public methods of the queue and the
account. ``o365.push.queue`` holds the waiting changes (one row per mailbox and record);
``PushRunner`` is one run of a push cron over the due mailboxes (engine/runner.py says
how a run goes), and ``PushRound`` is one ``$batch`` of it:

1. **claim** up to 20 due rows of the mailbox (or of up to 20 mailboxes of the
   organisation's application, at most 4 each: O2), the longest waiting first;
2. **plan** each row's Graph request: the record's own payload (its
   ``_o365_graph_payload`` hook) as a create, an update or a delete, or a lookup of a
   create whose answer was lost (E2);
3. **commit**: the row locks go before signing in and talking to Graph, so a user's save
   never waits for Graph (E1) and bumps the row's ``seq`` instead;
4. **send** one ``$batch``; a lost sign-in stops the mailbox with "reconnect" (S7);
5. **settle** the answers: links made or updated, rows done, retried with backoff for up
   to 24 hours (``Retry-After`` a minimum), or failed with plain words on the record and
   the user's sync status (E2, S7); then commit.

Three files, one job each: this one runs the rounds (the runner, claim, send, settle);
engine/push_requests.py plans each row's Graph request (step 2); engine/push_answers.py
applies Graph's answers and failures to links, rows and the user's status (step 5).
Graph request shapes stay in utils/graph_client.py; what a record does when pushed is its
own hooks' business (``_o365_pushed``, ``_o365_push_failed``, ...).
"""

import logging
from collections import Counter

import psycopg2

from odoo import SUPERUSER_ID, api, fields

from ..utils.auth import AuthError
from ..utils.crons import PUSH_CRON_XMLIDS, SHARDS, wake_cron
from ..utils.graph_client import BATCH_LIMIT, GraphError
from ..utils.locks import PUSH_LOCK_CLASS, mailbox_lock
from ..utils.settings import read_int
from .push_answers import THROTTLED, PushAnswers, _error_answer, _error_code, transient_answer
from .push_requests import RESCHEDULE_FLOOR, PushRequests
from .runner import MailboxRunner, run_time_budget

_logger = logging.getLogger(__name__)

MAX_ROUNDS = 500  # push batches per mailbox per run; the next run goes on from there
# Mailboxes of the organisation's application whose changes share one $batch (O2), and
# the changes of one mailbox in such a batch: Graph runs a batch's items concurrently,
# and Outlook allows 4 requests in flight per mailbox.
SHARED_BATCH_MAILBOXES = 20
SHARED_BATCH_PER_MAILBOX = 4
# Mailboxes signed in as their users whose rounds share a transaction (each still sends its own
# $batch, one after the other): claiming, planning and settling them together costs Odoo far
# less per change than one mailbox at a time (bench/engine_notes.md).
PUSH_GROUP = 20


def push_due(env, *, cursor_factory=None, shard=0, shards=1, parallel=None):
    """One run of the push over this shard's due mailboxes, time-boxed under Odoo's cron
    time limit; then each shard's cron is woken when its next waiting change is due.
    Returns the run's counters (pushed, failed, mailboxes, mailboxes_left, ...).

    ``cursor_factory`` (default: new cursors of ``env``'s registry) lets a test run the job
    as several real workers; ``parallel`` defaults to the push_parallel_mailboxes setting."""
    runner = PushRunner(
        env.registry,
        cursor_factory=cursor_factory,
        shard=shard,
        shards=shards,
        parallel=parallel or read_int(env, "push_parallel_mailboxes"),
        time_budget=run_time_budget(),
    )
    stats = runner.run()
    schedule_next_run(runner.cursor)
    return stats


def schedule_next_run(cursor_factory):
    """Wake each shard's cron when its next waiting change is due (retries, backoff).

    Not sooner than in a few seconds: a change left due now (its mailbox was busy with
    another worker) must not make the crons spin; the time-boxed leftovers are woken at
    once by the push cron (engine/cron.py)."""
    with cursor_factory() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        cr.execute(
            """SELECT mod(q.account_id, %s), min(q.next_attempt_at) FROM o365_push_queue q
               JOIN o365_sync_account a ON a.id = q.account_id
               WHERE q.state = 'pending' AND a.sync_state = 'running' AND a.connection_state = 'connected'
               GROUP BY 1""",
            [SHARDS],
        )
        soonest = fields.Datetime.now() + RESCHEDULE_FLOOR
        for shard, at in cr.fetchall():
            wake_cron(env, PUSH_CRON_XMLIDS[shard], max(at, soonest))


class PushRunner(MailboxRunner):
    """The push job: ERP changes waiting in ``o365.push.queue`` go out as ``$batch`` rounds."""

    job = "push"
    cron_xmlids = PUSH_CRON_XMLIDS

    def due_work(self, cr):
        """Mailboxes with due changes, the longest waiting first: each on its own, except those
        of the organisation's application, which share batches in groups (O2)."""
        cr.execute(
            """SELECT q.account_id, a.connected_by = 'organization' FROM o365_push_queue q
               JOIN o365_sync_account a ON a.id = q.account_id
               WHERE q.state = 'pending' AND q.next_attempt_at <= %s
                 AND a.sync_state = 'running' AND a.connection_state = 'connected'
                 AND mod(q.account_id, %s) = %s
               GROUP BY q.account_id, a.connected_by
               ORDER BY min(q.next_attempt_at), q.account_id""",
            [fields.Datetime.now(), self.shards, self.shard],
        )
        rows = cr.fetchall()
        shared = [account_id for account_id, organization in rows if organization]
        own = [account_id for account_id, organization in rows if not organization]
        # Mailboxes signed in as their users: each sends its own $batch, but as many as spreads them
        # over the run's threads share a transaction per round (at most PUSH_GROUP).
        size = max(1, min(PUSH_GROUP, -(-len(own) // self.parallel)))
        units = [tuple(own[i : i + size]) for i in range(0, len(own), size)]
        groups = [tuple(shared[i : i + SHARED_BATCH_MAILBOXES]) for i in range(0, len(shared), SHARED_BATCH_MAILBOXES)]
        # The oldest waiting work first, whichever kind.
        order = {account_id: rank for rank, (account_id, _org) in enumerate(rows)}
        return sorted(units + groups, key=lambda unit: order[unit[0]])

    def work_on(self, account_id):
        with self.cursor() as lock_cr:
            if not mailbox_lock(lock_cr, PUSH_LOCK_CLASS, account_id):
                self.count(mailbox_busy=1)
                return
            try:
                for _round in range(MAX_ROUNDS):
                    if self.past_deadline() or not self._round([account_id], batch_per_mailbox=None):
                        break
            finally:
                self.let_go(lock_cr, [account_id])

    def work_on_group(self, account_ids):
        """Several mailboxes' rounds in one transaction each: those of the organisation's
        application share each $batch (O2); those signed in as their users send one each."""
        with self.cursor() as lock_cr:
            mine = [account_id for account_id in account_ids if mailbox_lock(lock_cr, PUSH_LOCK_CLASS, account_id)]
            self.count(mailbox_busy=len(account_ids) - len(mine))
            lock_cr.execute(
                "SELECT bool_and(connected_by = 'organization') FROM o365_sync_account WHERE id = ANY(%s)",
                [list(account_ids)],
            )
            shared = bool(lock_cr.fetchone()[0])
            try:
                for _round in range(MAX_ROUNDS):
                    per_mailbox = SHARED_BATCH_PER_MAILBOX if shared else None
                    if not mine or self.past_deadline() or not self._round(mine, per_mailbox, shared):
                        break
            finally:
                self.let_go(lock_cr, mine)

    def let_go(self, lock_cr, account_ids):
        """Release the mailboxes' push locks (the lock cursor's commit), waking at that moment the
        pulls that wait for this push to tell its own writes from Outlook's (E4,
        ``o365.pull.request.settle_echoes``)."""
        self.env(lock_cr)["o365.pull.request"].wake_echo_pulls(account_ids)
        lock_cr.commit()  # pylint: disable=invalid-commit

    def _round(self, account_ids, batch_per_mailbox, shared=False):
        """One round in a cursor of its own; True when another may follow."""
        stats = Counter()
        try:
            with self.cursor() as cr:
                return PushRound(self.env(cr), stats, self.past_deadline).run(account_ids, batch_per_mailbox, shared)
        finally:
            self.count(**stats)


class PushRound(PushRequests, PushAnswers):
    """One ``$batch`` of the push: claim, plan, commit, send, settle (see the module docstring).

    Runs in the runner's cursor and commits it. No row lock is held while signing in or
    while Graph answers: a user saving the same record meanwhile is never blocked, and
    bumps ``seq`` so the newer version is pushed next. ``stats`` counts pushed, retried,
    failed and superseded rows.
    """

    def __init__(self, env, stats, past_deadline=None):
        self.env = env
        self.cr = env.cr
        self.queue = env["o365.push.queue"]
        self.stats = stats
        self.now = fields.Datetime.now()
        # Whether the job's run is past its deadline (engine/runner.py): a group's round sends no
        # more mailboxes' batches after it, so the run ends well before Odoo's cron time limit.
        self.past_deadline = past_deadline or (lambda: False)

    def run(self, account_ids, batch_per_mailbox=None, shared=False):
        """Each mailbox signed in as its user sends up to 20 of its changes in a $batch of its own;
        ``shared``: mailboxes of the organisation's application share one batch, at most
        ``batch_per_mailbox`` changes each (O2). Returns True when another round may find work."""
        limit = BATCH_LIMIT if shared else BATCH_LIMIT * len(account_ids)
        claimed = self.claim(account_ids, batch_per_mailbox or BATCH_LIMIT, limit)
        if not claimed:
            return False
        rows = self.queue.browse(list(claimed))
        plans, marked_sent = {}, {}
        for account in self.env["o365.sync.account"].browse(sorted(set(rows.mapped("account_id").ids))):
            plan, settled = self.plan(account, rows.filtered(lambda row, account=account: row.account_id == account))
            for row, request in plan:
                if request["kind"] == "create":
                    row.write({"create_seq": claimed[row.id]})
                    if row.create_state == "unsent":
                        row.write({"create_state": "sent"})
                        marked_sent[account] = marked_sent.get(account, self.queue) | row
            self.finish(settled, claimed)
            if plan:
                plans[account] = plan
        # Release the row locks before signing in and talking to Graph.
        self.cr.commit()  # pylint: disable=invalid-commit
        if not plans:
            return True

        answers, lost, unsent = self.send(plans, shared)
        self.now = fields.Datetime.now()  # settled at the time Graph answered
        for account in lost:
            del plans[account]  # the sign-in was lost: the account says 'reconnect' (S7), its rows wait
        for account in unsent:
            # Left at the run's deadline: nothing went to Graph; the next run takes them as they were.
            marked_sent.get(account, self.queue).write({"create_state": "unsent"})
            del plans[account]
        self.stats["unfinished"] += len(unsent)
        if not plans:
            return False
        throttled, health = set(), {}
        for account, plan in plans.items():
            if account.connected_by == "organization" and _out_of_reach(plan, answers):
                # This mailbox is outside the application's reach: it stops until an administrator
                # fixes it (O1); its changes wait untouched, the other mailboxes go on.
                account.mailbox_out_of_reach(next(answers[str(row.id)] for row, _r in plan))
                continue
            slowed, health[account] = self.settle(account, plan, answers, claimed)
            if slowed:
                throttled.add(account)
        # The rows are settled for good before the accounts' status is touched: the pull and
        # users' saves write those rows too, and losing a race there must never undo a round
        # that Graph accepted (SPEC E6).
        self.cr.commit()  # pylint: disable=invalid-commit
        for account, outcome in health.items():
            try:
                with self.cr.savepoint():
                    self.note_health(account, *outcome)
            except psycopg2.errors.SerializationFailure:
                _logger.debug("o365: sync status of account %s is busy; noted on a later round", account.id)
        return len(throttled) < len(plans)

    # -- claim (the requests: engine/push_requests.py) ------------------------------------------

    def claim(self, account_ids, per_mailbox, limit=BATCH_LIMIT):
        """Lock up to ``limit`` due rows of these running mailboxes, at most ``per_mailbox`` each,
        the longest waiting first: {row id: seq}."""
        self.cr.execute(
            """SELECT id, seq FROM o365_push_queue WHERE id IN (
                   SELECT id FROM (
                       SELECT q.id, q.next_attempt_at,
                              row_number() OVER (PARTITION BY q.account_id ORDER BY q.next_attempt_at, q.id) AS n
                       FROM o365_push_queue q JOIN o365_sync_account a ON a.id = q.account_id
                       WHERE q.account_id IN %s AND q.state = 'pending' AND q.next_attempt_at <= %s
                         AND a.connection_state = 'connected' AND a.sync_state = 'running'
                   ) due WHERE n <= %s ORDER BY next_attempt_at, id LIMIT %s)
               ORDER BY next_attempt_at, id
               FOR UPDATE SKIP LOCKED""",
            [tuple(account_ids), self.now, per_mailbox, limit],
        )
        return dict(self.cr.fetchall())

    # -- send --------------------------------------------------------------------------------

    def send(self, plans, shared=False):
        """Send the planned requests: one $batch per mailbox, with its user's own sign-in, or
        (``shared``) one $batch for all through the organisation's application (O2). Returns
        ({item id: answer}, the accounts whose sign-in was lost: they now say 'reconnect', S7, the
        accounts left unsent at the run's deadline)."""
        if shared:
            answers = self.send_batch(plans, self.env["o365.sync.account"].organization_graph)
            return (answers, set(), set()) if answers is not None else ({}, set(plans), set())
        answers, lost, unsent = {}, set(), set()
        for index, (account, plan) in enumerate(plans.items()):
            if index and self.past_deadline():
                unsent.add(account)
                continue
            got = self.send_batch({account: plan}, account.graph_client)
            if got is None:
                lost.add(account)
            else:
                answers.update(got)
        return answers, lost, unsent

    def send_batch(self, plans, graph_client):
        """One $batch for the planned requests of these mailboxes, through the client
        ``graph_client()`` makes: {item id: answer}, or None when the sign-in was lost."""
        items = [request for plan in plans.values() for _row, request in plan if request["kind"] != "invalid"]
        everyone = [row for plan in plans.values() for row, _request in plan]
        if not items:
            return {}
        accounts = list(plans)
        try:
            return graph_client().batch(items)
        except GraphError as exc:
            return {str(row.id): _error_answer(exc.status, exc.code, exc.message, exc.retry_after) for row in everyone}
        except AuthError as exc:
            if exc.reconnect:
                # The accounts now say 'reconnect' (committed with this transaction, never
                # rolled back by a raise: S7) and are skipped until they connect again; their
                # rows wait untouched, with no try counted. One account's client flagged it
                # already; a shared batch's mailboxes (the organisation no longer connects
                # them) are flagged here.
                for account in accounts:
                    if account.connection_state != "reconnect":
                        account.flag_reconnect_needed(exc)
                return None
            return {str(row.id): _error_answer(0, "AuthError", str(exc)) for row in everyone}

    # -- settle ------------------------------------------------------------------------------

    def settle(self, account, plan, answers, claimed):
        """Apply Graph's answers to links and rows. Returns (throttled, health): whether Graph
        asked us to slow down, and (success time, error words) for the user's sync status."""
        throttled = False
        ok = again = self.queue.browse()
        failures = []
        for row, request in plan:
            if request["kind"] == "invalid":
                failures.append((row, _error_answer(400, "InvalidRecord", request["error"]), False))
                continue
            answer = answers.get(str(row.id)) or _error_answer(0, "NoAnswer", "Graph gave no answer for this change.")
            outcome = self.apply_answer(account, row, request, answer)
            if outcome == "done":
                ok |= row
            elif outcome == "again":
                again |= row
            else:
                status = answer["status"]
                throttled = throttled or status == THROTTLED
                failures.append((row, answer, transient_answer(answer)))
        self.finish(ok, claimed)
        # One more step is due at once (find a lost create, then link or create it).
        again.write({"next_attempt_at": self.now})
        error = None
        for row, answer, transient in failures:
            error = self.apply_failure(account, row, answer, transient) or error
        answered = ok or again
        if answered:
            self.resume_after_recovery(account)
        elif failures and all(transient for _row, _answer, transient in failures):
            # Nothing got through: the mailbox backs off as a whole, not 20 rows at a time.
            self.back_off_mailbox(account, min(row.next_attempt_at for row, _a, _t in failures))
            throttled = True
        if error is None and not answered:
            error = account.last_error  # nothing new to say
        return throttled, (self.now if answered else None, error)

    def finish(self, rows, claimed):
        """Done with these rows: delete them unless a newer change arrived meanwhile."""
        if not rows:
            return
        self.cr.execute("SELECT id, seq FROM o365_push_queue WHERE id IN %s FOR UPDATE", [tuple(rows.ids)])
        current = dict(self.cr.fetchall())
        done = [rid for rid, seq in current.items() if seq == claimed.get(rid)]
        newer = [rid for rid in current if rid not in done]
        if done:
            self.cr.execute("DELETE FROM o365_push_queue WHERE id IN %s", [tuple(done)])
            self.stats["pushed"] += len(done)
        if newer:
            self.stats["superseded"] += len(newer)
        self.queue.invalidate_model()


def _out_of_reach(plan, answers):
    """True when Graph refused the organisation's application every request for this mailbox
    (403 ErrorAccessDenied: outside its scope, O1)."""
    got = [answers.get(str(row.id)) or {} for row, request in plan if request["kind"] != "invalid"]
    return bool(got) and all(a.get("status") == 403 and _error_code(a) == "ErrorAccessDenied" for a in got)
