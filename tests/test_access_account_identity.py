"""S5, O1, issue 27: an account's identity belongs to the sync, not to its owner.

A security review made an ordinary employee's account open a colleague's mailbox in
organisation mode by writing the "read-only" fields of their own account over JSON-RPC
(readonly=True binds views only). Owners now change only their options; which mailbox an
account opens, its states, errors and health are written by the sync or an administrator.
"""

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import ORG_DOMAIN, O365Case, run_pull_requests

# What the review wrote, and the rest of what only the sync and administrators write.
PROTECTED_VALUES = {
    "mailbox_address": f"frank_id@{ORG_DOMAIN}",
    "mailbox_user_id": "frank-object-id",
    "connection_state": "connected",
    "connected_by": "organization",
    "sync_state": "running",
    "sync_started_at": "2020-01-01 00:00:00",
    "last_error": False,
    "last_error_at": False,
    "last_success_at": "2020-01-01 00:00:00",
    "previous_mailbox_address": f"frank_id@{ORG_DOMAIN}",
    "organization_lookup_address": f"frank_id@{ORG_DOMAIN}",
    "mailbox_timezone": "UTC",
    "last_pull_at": "2020-01-01 00:00:00",
    "notifications_missed_at": False,
    "user_id": 1,
}
# res.users shows the account through related fields: the same refusal through them.
PROTECTED_USER_VALUES = {
    "o365_mailbox_address": f"frank_id@{ORG_DOMAIN}",
    "o365_connection_state": "connected",
    "o365_sync_state": "running",
    "o365_sync_started_at": "2020-01-01 00:00:00",
    "o365_last_error": False,
    "o365_account_ids": [(1, 0, {"mailbox_address": f"frank_id@{ORG_DOMAIN}"})],
}


@tagged("post_install", "-at_install")
class TestAccountIdentity(O365Case):
    connection_mode = "organization"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        state = cls.emulator.state
        for login in ("erin_id", "frank_id", "gina_id"):
            state.add_user(f"{login}@{ORG_DOMAIN}", time_zone="Europe/Paris")
        # Erin's login is not her email, as in many Odoo databases; an administrator started her sync.
        cls.erin = new_test_user(cls.env, "erin_login", groups="base.group_user", email=f"erin_id@{ORG_DOMAIN}")
        cls.frank = new_test_user(
            cls.env, f"frank_id@{ORG_DOMAIN}", groups="base.group_user", email=f"frank_id@{ORG_DOMAIN}"
        )
        cls.env["o365.sync.start.users"]._start_users(cls.erin | cls.frank)
        cls.account = cls.env["o365.sync.account"].sudo()._for_user(cls.erin)
        assert cls.account.mailbox_address == f"erin_id@{ORG_DOMAIN}" and cls.account.sync_state == "running"
        cls.env.flush_all()
        run_pull_requests(cls.account)  # subscribed, as the pull job leaves it

    def _assert_erin_opens_her_own_mailbox(self):
        self.env.invalidate_all()
        self.assertEqual(self.account.mailbox_address, f"erin_id@{ORG_DOMAIN}")
        self.assertNotEqual(self.account.mailbox_user_id, "frank-object-id")
        self.assertEqual(self.account.user_id, self.erin)

    def test_owner_cannot_write_protected_fields_through_the_orm(self):
        """S5, issue 27 item 2: write() of any field but the options, by the account's owner, is refused
        in plain words; the options stay the owner's to change."""
        mine = self.account.with_user(self.erin)
        for field, value in PROTECTED_VALUES.items():
            with self.subTest(field=field), self.assertRaises(AccessError) as refused:
                mine.write({field: value})
            self.assertIn("only your sync options", str(refused.exception))
        mine.write({"sync_tasks": False, "include_categories": "Customers"})
        self.assertFalse(self.account.sync_tasks)
        with self.assertRaises(AccessError):
            self.env["o365.sync.account"].with_user(self.erin).create({"user_id": self.erin.id})
        self._assert_erin_opens_her_own_mailbox()

    def test_owner_cannot_write_protected_fields_over_json_rpc(self):
        """S5, issue 27 item 2: the review's reproduction over JSON-RPC (Stop, rewrite the mailbox and the
        sync start, Start) leaves Erin on her own mailbox; write, web_save and res.users' related fields
        are all refused, and the options still save through her preferences."""
        self.authenticate("erin_login", "erin_login")
        answer, _text = self._rpc("res.users", "action_o365_stop_sync", [[self.erin.id]])
        self.assertTrue(answer.get("result"), answer)
        for method, args, kwargs in (
            ("write", [[self.account.id], PROTECTED_VALUES], {}),
            *(("write", [[self.account.id], {field: value}], {}) for field, value in PROTECTED_VALUES.items()),
            ("web_save", [[self.account.id], {"mailbox_address": f"frank_id@{ORG_DOMAIN}"}], {"specification": {}}),
            ("create", [{"user_id": self.erin.id, "mailbox_address": f"frank_id@{ORG_DOMAIN}"}], {}),
        ):
            with self.subTest(method=method, values=str(args[-1])[:60]):
                answer, _text = self._rpc("o365.sync.account", method, args, kwargs)
                self.assertNotIn("result", answer)
                self.assertEqual(answer["error"]["data"]["name"], "odoo.exceptions.AccessError")
        for field, value in PROTECTED_USER_VALUES.items():
            with self.subTest(user_field=field):
                answer, _text = self._rpc("res.users", "write", [[self.erin.id], {field: value}])
                self.assertNotIn("result", answer)
                self.assertEqual(answer["error"]["data"]["name"], "odoo.exceptions.AccessError")
        answer, _text = self._rpc("res.users", "write", [[self.erin.id], {"o365_sync_tasks": False}])
        self.assertTrue(answer.get("result"), answer)
        answer, _text = self._rpc("res.users", "action_o365_start_sync", [[self.erin.id]])
        self.assertTrue(answer.get("result"), answer)
        self._assert_erin_opens_her_own_mailbox()
        self.assertFalse(self.account.sync_tasks)
        self.assertEqual(self.account.sync_state, "running")
        self.assertGreater(self.account.sync_started_at.year, 2020, "the sync start is the real one")

    def test_start_checks_the_mailbox_again(self):
        """O1, issue 27: the mailbox of an organisation-connected account is checked against its user at
        every Start: Erin pointing her own (editable) email at Frank's address is refused at Start; an
        address an administrator sets is looked up and opened."""
        me = self.erin.with_user(self.erin)
        me.action_o365_stop_sync()
        me.write({"email": f"gina_id@{ORG_DOMAIN}"})  # users may edit their own email in Odoo
        with self.assertRaises(UserError) as refused:
            me.action_o365_start_sync()
        self.assertIn("ask your administrator", str(refused.exception))
        self._assert_erin_opens_her_own_mailbox()
        self.assertEqual(self.account.sync_state, "stopped")
        # An administrator decides: Erin's Microsoft 365 mailbox is now Gina's former one.
        self.erin.sudo().o365_mailbox = f"gina_id@{ORG_DOMAIN}"
        me.action_o365_start_sync()
        self.env.invalidate_all()
        self.assertEqual(self.account.mailbox_address, f"gina_id@{ORG_DOMAIN}")
        self.assertEqual(self.account.organization_lookup_address, f"gina_id@{ORG_DOMAIN}")
        self.assertEqual(self.account.sync_state, "running")
        # Nothing changed since: the next Start asks Graph nothing about the mailbox.
        me.action_o365_stop_sync()
        before = len(self.graph_requests())
        me.action_o365_start_sync()
        self.assertEqual(self.graph_requests()[before:], [], "no mailbox lookup when nothing changed")
