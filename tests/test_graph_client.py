from ..utils.auth import AuthError
from ..utils.graph_client import DUPLICATE_TRANSACTION, GraphError
from .common import O365Case

SMOKE = {
    "subject": "Smoke",
    "start": {"dateTime": "2030-01-07T09:00:00", "timeZone": "UTC"},
    "end": {"dateTime": "2030-01-07T09:30:00", "timeZone": "UTC"},
}


class TestGraphClient(O365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = cls._connected_user("ada_client", start_sync=False)
        cls.account = cls.env["o365.sync.account"]._for_user(cls.user)

    def test_connected_account_creates_event_in_its_mailbox(self):
        """S2: a connected user's tokens reach Graph; the event lands in that user's mailbox only."""
        client = self.account.graph_client()
        created = client.send(client.events.create_event(SMOKE, "smoke-1", "db/mail.activity/1"))
        self.assertEqual(
            [e["id"] for e in self.mailbox_events("ada_client@contoso.example", subject="Smoke")], [created["id"]]
        )

    def test_replayed_create_is_refused_and_found_by_its_stamp(self):
        """E2: as in Graph, a create replayed with the same transactionId is refused (400
        ErrorDuplicateTransactionId, no event in the answer), and the event that create made is
        found by the record stamp it carries (transactionId cannot be filtered on)."""
        client = self.account.graph_client()
        create = client.events.create_event({**SMOKE, "subject": "Once"}, "once-1", "db/mail.activity/7")
        first = client.send(create)
        with self.assertRaises(GraphError) as refused:
            client.send(create)
        self.assertEqual((refused.exception.status, refused.exception.code), (400, DUPLICATE_TRANSACTION))
        self.assertEqual(len(self.mailbox_events("ada_client@contoso.example", subject="Once")), 1)
        client.send(client.events.create_event({**SMOKE, "subject": "Other"}, "other-1", "db/mail.activity/8"))
        found = client.send(client.events.find_created("db/mail.activity/7"))["value"]
        self.assertEqual([e["id"] for e in found], [first["id"]])
        self.assertEqual(client.send(client.events.find_created("db/mail.activity/9"))["value"], [])

    def test_expired_access_token_is_refreshed_and_rotation_kept(self):
        """S2: an expired access token is refreshed silently, and the rotated refresh token is stored."""
        account = self.env["o365.sync.account"]._for_user(self._connected_user("dee_client", start_sync=False))
        # Make reuse of a refresh token fail, so that the second refresh below
        # proves the rotated token was stored.
        self.emulator.state.update_settings(single_use_refresh_tokens=True)
        self.addCleanup(self.emulator.state.update_settings, single_use_refresh_tokens=False)
        before = account.sudo().token_cache
        self.emulator.state.expire_access_tokens("dee_client@contoso.example")
        self.assertEqual(account.graph_client().me()["userPrincipalName"], "dee_client@contoso.example")
        self.assertNotEqual(account.sudo().token_cache, before)
        self.emulator.state.expire_access_tokens("dee_client@contoso.example")
        self.assertEqual(account.graph_client().me()["userPrincipalName"], "dee_client@contoso.example")

    def test_revoked_sign_in_asks_user_to_reconnect(self):
        """S2: a revoked refresh token turns into a visible 'reconnect' state for that user only."""
        revoked = self.env["o365.sync.account"]._for_user(self._connected_user("cid_client", start_sync=False))
        other = self.env["o365.sync.account"]._for_user(self._connected_user("bea_client", start_sync=False))
        self.emulator.state.revoke_refresh_tokens("cid_client@contoso.example")
        self.emulator.state.expire_access_tokens("cid_client@contoso.example")
        # Not assertRaises: Odoo's rolls back a savepoint, and the flag must survive the error.
        try:
            revoked.graph_client().me()
        except AuthError as exc:
            self.assertTrue(exc.reconnect)
        else:
            self.fail("a revoked sign-in must raise AuthError")
        self.assertEqual(revoked.connection_state, "reconnect")
        self.assertIn("connect again", revoked.last_error)
        self.assertEqual(other.graph_client().me()["userPrincipalName"], "bea_client@contoso.example")
        self.assertEqual(other.connection_state, "connected")

    def test_discovery_document_read_once_per_process(self):
        """S1, S2: the login service's discovery document is read once per process, not once per Graph
        client (every push batch and pull makes one); the settings' connection test still asks the service."""
        from ..utils.connection_check import check_connection

        state = self.emulator.state

        def discovery_reads():
            return sum(1 for r in state.request_stats()["requests"] if "openid-configuration" in r["path"])

        self.account.graph_client().me()
        before = discovery_reads()
        for _ in range(3):
            self.account.graph_client().me()
        self.assertEqual(discovery_reads(), before, "no new discovery read for later clients")
        check_connection(self.env["o365.config"].azure_app(), self.base_url() + "/o365_calendar_sync/oauth/callback")
        self.assertEqual(discovery_reads(), before + 1, "the connection test reads it live")
