"""o365.sync.account: mailboxes the organisation's application connects (SPEC O1), no sign-in.

Which mailbox is a user's (the address an administrator set, else their email), the probe
of each mailbox with Graph (a few users per $batch; its Graph side, plain Python, is
utils/organization_probe.py) and what it finds, in words for the user or the administrator;
Start in organisation mode, and a mailbox the application may no longer open.
Administrators start many users at once with the start-users wizard
(wizard/o365_sync_start_users.py).
"""

from odoo import api, models
from odoo.exceptions import UserError

from ..utils import plain_words
from ..utils.auth import AuthError
from ..utils.graph_client import GraphError
from ..utils.organization_probe import (
    PER_BATCH,
    first_refusal,
    mailbox_owner,
    mailbox_timezone,
    no_such_mailbox,
    probe_answers,
    probe_requests,
    refusal_detail,
)
from ..utils.settings import ORGANIZATION_MODE
from .o365_sync_account import NO_RECONNECT_NOTICE


class O365SyncAccountOrganization(models.Model):
    _inherit = "o365.sync.account"

    def _organization_start(self):
        """Start Syncing in organisation mode (O1): connect first when needed, then start.
        Raises UserError with what is wrong when this one account cannot be connected."""
        self.ensure_one()
        if self.connection_state != "connected" or self._organization_mailbox_changed():
            error = self._connect_through_organization()[self]
            if error:
                raise UserError(error)
        if self.sync_state != "running":
            self._start_sync()

    def _organization_mailbox_changed(self):
        """A mailbox the organisation connected that is no longer the one the rules of O1 give
        this user (their email, or the Microsoft 365 mailbox an administrator set, changed since): checked at every
        Start, so that only the user's own mailbox is ever opened. No Graph call when it holds."""
        self.ensure_one()
        if self.connected_by != ORGANIZATION_MODE:
            return False  # the user's own sign-in proved the mailbox is theirs
        looked_up = self.organization_lookup_address or self.mailbox_address
        return looked_up != self._organization_address()

    def _organization_address(self):
        """The mailbox the organisation connects for this user: the address an administrator set
        on the user (Microsoft 365 Mailbox), else the user's email."""
        self.ensure_one()
        user = self.user_id.sudo()
        return (user.o365_mailbox or user.email or "").strip().lower()

    def _check_own_mailbox_address(self):
        """A user starting their own sync in organisation mode (O1) may open only a mailbox no user can
        redirect: the one an administrator set, their login's, or the one connected before. Users can
        edit their own email in Odoo; an email that is none of those needs an administrator."""
        self.ensure_one()
        user = self.user_id.sudo()
        address = self._organization_address()
        if user.o365_mailbox or address in (
            (user.login or "").strip().lower(),
            self.mailbox_address,
            self.previous_mailbox_address,
        ):
            return
        raise UserError(
            self.env._(
                "Your email (%(address)s) is not your login, so Odoo cannot be sure it is your mailbox: ask your "
                "administrator to start your Microsoft 365 sync, or to set your Microsoft 365 mailbox on your user.",
                address=address,
            )
        )

    def _connect_through_organization(self, for_administrator=False):
        """Connect these users' mailboxes through the organisation's application, without any
        sign-in (O1). Checks each mailbox with Graph (a few users per $batch) first.

        Returns {account: None when connected, else what is wrong in plain words}; a failed
        account is left as it was, with the words as its last error. Raises UserError when the
        organisation's connection itself does not work (nobody can be connected).
        ``for_administrator``: an administrator started these users, and reads the returned words
        (what they can do); each user's last error keeps the words for the user (issue 23)."""
        outcome, for_admin = {}, {}
        self.env["o365.config"]._check_not_neutralized()  # S8
        try:
            graph = self.organization_graph()
        except AuthError as exc:
            raise UserError(plain_words.explain_exception(exc).sentence(self.env.lang)) from None
        for start in range(0, len(self), PER_BATCH):
            chunk = self[start : start + PER_BATCH]
            items = []
            for account in chunk:
                address = account._organization_address()
                if not address:
                    outcome[account] = self.env._(
                        "Odoo knows no email address of yours: ask your administrator to set your Microsoft 365 "
                        "mailbox on your user."
                    )
                    for_admin[account] = self.env._(
                        "%(user)s has no email address: set it, or their Microsoft 365 mailbox, on the user.",
                        user=account.user_id.name,
                    )
                    continue
                items += probe_requests(account.id, address)
            try:
                answers = graph.batch(items) if items else {}
            except (AuthError, GraphError) as exc:
                raise UserError(
                    self.env._(
                        "Microsoft 365 could not be asked about these mailboxes: %(error)s",
                        error=plain_words.explain_exception(exc).sentence(self.env.lang),
                    )
                ) from None
            for account in chunk.filtered(lambda a: a not in outcome):
                probe = probe_answers(answers, account.id)
                outcome[account] = account._apply_mailbox_probe(probe)
                if outcome[account] and for_administrator:
                    for_admin[account] = account._mailbox_probe_problem(probe, for_administrator=True)
        for account, error in outcome.items():
            if error:
                account.sudo().with_context(**{NO_RECONNECT_NOTICE: True}).write({"last_error": error})
        if for_administrator:
            return {account: error and (for_admin.get(account) or error) for account, error in outcome.items()}
        return outcome

    def _mailbox_probe_problem(self, answers, for_administrator=False):
        """What keeps the probed mailbox from being connected, in plain words for the user or,
        ``for_administrator``, for the administrator who started them; None when nothing does."""
        self.ensure_one()
        address = self._organization_address()
        if no_such_mailbox(answers):
            if for_administrator:
                return self.env._(
                    "Microsoft 365 has no mailbox %(address)s: set the user's Microsoft 365 mailbox (Settings > "
                    "Users > the user > Calendar tab).",
                    address=address,
                )
            return self.env._(
                "Microsoft 365 has no mailbox %(address)s: ask your administrator to set your Microsoft 365 mailbox "
                "on your user.",
                address=address,
            )
        failed = first_refusal(answers)
        if failed is not None:
            reader_env = self.env if for_administrator else self.owner_env()
            return _mailbox_refusal_words(reader_env, address, failed, for_administrator=for_administrator)
        found, owner_id = mailbox_owner(answers, address)
        taken = self._other_account_on(found, owner_id)
        if taken:
            return self.env._(
                "The mailbox %(address)s is already connected to %(user)s in Odoo.",
                address=found,
                user=taken.user_id.name,
            )
        return None

    def _apply_mailbox_probe(self, answers):
        """Connect this account to the mailbox the probe found, or say why not (O1)."""
        self.ensure_one()
        problem = self._mailbox_probe_problem(answers)
        if problem:
            return problem
        address = self._organization_address()
        found, owner_id = mailbox_owner(answers, address)
        self._leave_previous_mailbox(found)
        self.sudo().with_context(**{NO_RECONNECT_NOTICE: True}).write(
            {
                "connected_by": ORGANIZATION_MODE,
                "connection_state": "connected",
                "mailbox_address": found,
                "organization_lookup_address": address,
                "mailbox_user_id": owner_id or False,
                "previous_mailbox_address": False,
                "mailbox_timezone": mailbox_timezone(answers),
                "token_cache": False,
                "last_error": False,
            }
        )
        self.env["o365.push.queue"]._wake_worker(self)
        return None

    @api.private
    def mailbox_out_of_reach(self, answer):
        """Graph refused the organisation's application this mailbox (403: outside its RBAC for
        Applications scope, or a permission withdrawn). Only an administrator can fix it: the
        mailbox stops until then, the user is told once (S7), and other mailboxes go on (O1)."""
        self.ensure_one()
        words = _mailbox_refusal_words(self.owner_env(), self.mailbox_address, answer)
        self.sudo().write({"connection_state": "reconnect", "last_error": words})


def _mailbox_refusal_words(env, address, answer, for_administrator=False):
    """Plain words for Graph refusing the organisation's application a mailbox (O1), for the
    user or, ``for_administrator``, for the administrator who can fix it (issue 23)."""
    detail = refusal_detail(answer)
    if answer.get("status") == 403 and for_administrator:
        words = env._(
            "The organisation's Microsoft 365 application may not open the mailbox %(address)s: add it to the "
            "mailboxes the application may reach (Exchange RBAC for Applications), or grant admin consent again "
            "in Settings > Microsoft 365 Sync.",
            address=address,
        )
    elif answer.get("status") == 403:
        words = env._(
            "The organisation's Microsoft 365 application may not open the mailbox %(address)s: it is outside the "
            "mailboxes the application may reach (Exchange RBAC for Applications), or a permission was not granted. "
            "Ask your administrator to add it to the application's scope and to grant admin consent.",
            address=address,
        )
    else:
        words = env._(
            "Microsoft 365 did not answer about the mailbox %(address)s: %(what)s",
            address=address,
            what=plain_words.explain_answer(answer)[0].what.in_lang(env.lang),
        )
    return plain_words.compose(words, detail)
