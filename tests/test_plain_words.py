"""S3, S7, issue 15: plain words for every error a user can see, without Odoo records or HTTP."""

from odoo.tests import BaseCase, tagged

from ..utils import plain_words as pw
from ..utils.auth import AuthError
from ..utils.graph_client import GraphError


@tagged("post_install", "-at_install")
class TestPlainWords(BaseCase):
    def test_timeout_reads_as_outlook_not_reached(self):
        """S3: the raw "0 NetworkError: ReadTimeout: HTTPSConnectionPool(...)" becomes plain words that
        say it passes by itself; the technical line is kept after the details marker."""
        raw = "ReadTimeout: HTTPSConnectionPool(host='graph.microsoft.com', port=443): Read timed out."
        words, detail = pw.explain_answer({"status": 0, "body": {"error": {"code": "NetworkError", "message": raw}}})
        self.assertEqual(words.what, "Outlook could not be reached (timed out).")
        self.assertEqual(words.todo, "Odoo tries again by itself; nothing is lost.")
        self.assertTrue(words.transient)
        self.assertEqual(detail, f"0 NetworkError: {raw}")
        text = pw.compose(words.what, detail)
        self.assertEqual(pw.split(text), (words.what, detail))
        self.assertNotIn("HTTPSConnectionPool", pw.words_of(text))

    def test_each_kind_of_answer_has_its_words(self):
        """S3: throttling, outages, permissions, bad content, full mailbox, unknown: what happened and what to do."""
        cases = {
            (429, "TooManyRequests"): ("slow down", True),
            (503, "ServiceUnavailable"): ("temporary problem", True),
            (504, "GatewayTimeout"): ("temporary problem", True),
            (403, "ErrorAccessDenied"): ("does not let Odoo write", False),
            (400, "ErrorInvalidRequest"): ("refused the event's content", False),
            (400, "InvalidRecord"): ("could not turn this record", False),
            (404, "ErrorItemNotFound"): ("not found", False),
            (507, "ErrorQuotaExceeded"): ("mailbox is full", False),
            (0, "NoAnswer"): ("gave no answer", True),
            (0, "NetworkError"): ("could not be reached (no connection)", True),
            (418, "Teapot"): ("refused the change (error 418)", False),
        }
        for (status, code), (phrase, transient) in cases.items():
            words = pw.explain(status, code, "whatever Graph said")
            self.assertIn(phrase, words.what, (status, code))
            self.assertEqual(words.transient, transient, (status, code))
            self.assertTrue(words.todo, (status, code))
            self.assertNotIn("whatever Graph said", words.sentence())

    def test_sign_in_failures(self):
        """S7: a revoked or expired sign-in says Reconnect and where; a wrong client secret names the
        administrator; an unreachable login service passes by itself."""
        revoked = AuthError("Microsoft refused the sign-in (expired or revoked) (invalid_grant: AADSTS)", True)
        words = pw.explain_exception(revoked)
        self.assertIn("no longer accepts your sign-in", words.what)
        self.assertIn("My Profile > Preferences > Reconnect", words.todo)  # Odoo 18's words (issue 23)
        secret = pw.explain_exception(AuthError("The Azure client ID or secret is wrong (invalid_client: x)", True))
        self.assertIn("administrator", secret.todo)
        offline = pw.explain_exception(AuthError("Cannot reach the login endpoint: ConnectTimeout"))
        self.assertTrue(offline.transient)
        graph = pw.explain_exception(GraphError(0, "NetworkError", "ConnectionError: refused"))
        self.assertEqual(graph.what, "Outlook could not be reached (no connection).")

    def test_older_raw_texts_and_stored_details(self):
        """Issue 15: a stored text without the marker is shown as it is; a stored technical line gives
        back its advice."""
        self.assertEqual(pw.split("503 ServiceUnavailable: down"), ("503 ServiceUnavailable: down", ""))
        self.assertEqual(pw.split(None), ("", ""))
        self.assertEqual(pw.compose("Words.", ""), "Words.")
        self.assertIn("permissions", pw.explain_detail("403 ErrorAccessDenied: no").todo)
        self.assertEqual(pw.explain_detail("garbage").todo, "")
