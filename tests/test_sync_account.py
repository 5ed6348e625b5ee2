from odoo.exceptions import AccessError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestSyncAccount(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = new_test_user(cls.env, "alice_o365", groups="base.group_user")
        cls.bob = new_test_user(cls.env, "bob_o365", groups="base.group_user")
        cls.admin = new_test_user(cls.env, "admin_o365", groups="base.group_user,base.group_system")
        Account = cls.env["o365.sync.account"]
        cls.alice_account = Account._for_user(cls.alice)
        cls.alice_account.sudo().write({"token_cache": '{"RefreshToken": {"x": {"secret": "rt-secret"}}}'})
        cls.bob_account = Account._for_user(cls.bob)

    def test_user_sees_and_changes_only_own_account(self):
        """S5: a user reads and writes their own sync settings, not a colleague's."""
        as_alice = self.env["o365.sync.account"].with_user(self.alice)
        self.assertEqual(as_alice.search([]), self.alice_account)
        self.alice_account.with_user(self.alice).write({"sync_tasks": False})
        self.assertFalse(self.alice_account.sync_tasks)
        with self.assertRaises(AccessError):
            self.bob_account.with_user(self.alice).write({"sync_tasks": False})
        with self.assertRaises(AccessError):
            self.bob_account.with_user(self.alice).read(["sync_tasks"])

    def test_tokens_are_for_administrators_only(self):
        """S5: tokens and sync cursors are unreadable even by their owner; administrators can reach them."""
        with self.assertRaises(AccessError):
            self.alice_account.with_user(self.alice).read(["token_cache"])
        with self.assertRaises(AccessError):
            self.alice_account.with_user(self.alice).read(["subscription_secret"])
        self.assertIn("rt-secret", self.alice_account.with_user(self.admin).token_cache)
        self.assertEqual(
            self.env["o365.sync.account"].with_user(self.admin).search([]) >= self.alice_account | self.bob_account,
            True,
        )

    def test_one_account_per_user(self):
        """S5: _for_user returns the existing account rather than a second one."""
        self.assertEqual(self.env["o365.sync.account"]._for_user(self.alice), self.alice_account)

    def test_category_lists_trimmed_and_deduplicated(self):
        """B7: include/exclude category lists are trimmed and de-duplicated (case-insensitively)."""
        self.alice_account.write({"exclude_categories": " Personal ,personal,, Red category "})
        self.assertEqual(self.alice_account.exclude_categories, "Personal, Red category")
        self.assertEqual(self.alice_account.category_filter(), ("exclude", ["Personal", "Red category"]))

    def test_include_and_exclude_categories_refused_together(self):
        """B7: include and exclude categories are alternatives; both at once is refused with a clear message."""
        self.alice_account.write({"include_categories": "Customers"})
        with self.assertRaisesRegex(ValidationError, "either 'Include categories' or 'Exclude categories'"):
            self.alice_account.write({"exclude_categories": "Personal"})
