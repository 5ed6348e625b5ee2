"""S3, S7, issue 15: plain words for every error a user can see, without Odoo records or HTTP."""

from odoo.tests import BaseCase, tagged

from ..engine.pusher import transient_answer
from ..utils import plain_words as pw
from ..utils.auth import AuthError
from ..utils.graph_client import DUPLICATE_TRANSACTION, GraphError, is_transient


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

    def test_graph_client_transient_one_definition_push_pull_words_agree(self):
        """E2, E6, S3 (issue 24): one definition of "passes by itself", in the Graph layer, by status
        (GRAPH_FACTS §1.3, §4, §10): no answer, 412 (a moved change key, or Graph's passing
        412s), 424 (a $batch item held back), 429, 500, 502, 503, 504. Everything else is final, and so
        is a replayed create whatever its status. The pull (GraphError.transient), the push
        (pusher.transient_answer) and the user's words (retrying or not) all say the same."""
        cases = {
            (0, "NetworkError"): True,
            (0, "NoAnswer"): True,
            (412, "ErrorIrresolvableConflict"): True,
            (424, "FailedDependency"): True,
            (429, "TooManyRequests"): True,
            (500, "InternalServerError"): True,
            (502, "BadGateway"): True,
            (503, "ServiceUnavailable"): True,
            (504, "GatewayTimeout"): True,
            (400, "ErrorInvalidRequest"): False,
            (400, DUPLICATE_TRANSACTION): False,
            (409, DUPLICATE_TRANSACTION): False,
            (409, "ErrorConflict"): False,
            (401, "InvalidAuthenticationToken"): False,
            (403, "ErrorAccessDenied"): False,
            (404, "ErrorItemNotFound"): False,
            (413, "RequestEntityTooLarge"): False,
            (501, "NotImplemented"): False,
            (507, "ErrorQuotaExceeded"): False,
        }
        for (status, code), transient in cases.items():
            with self.subTest(status=status, code=code):
                self.assertEqual(is_transient(status, code), transient)
                self.assertEqual(GraphError(status, code, "x").transient, transient, "the pull")
                answer = {"status": status, "body": {"error": {"code": code, "message": "x"}}}  # a $batch item's
                self.assertEqual(transient_answer(answer), transient, "the push")
                words = pw.explain(status, code, "x")
                self.assertEqual(words.transient, transient, "the words")
                self.assertEqual(words.todo == pw.RETRYING, transient, words.todo)
