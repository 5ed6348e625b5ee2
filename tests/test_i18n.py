"""Issue 23, item 10: one language. Every user-facing string is translatable, the committed
template is what Odoo's export produces, French and German are complete, and a French-speaking
user reads the Calendar tab, the badges and the plain words in French while their calls reach
Outlook as "Appel : …"."""

import re
from datetime import date
from pathlib import Path

import polib
from lxml import etree

from odoo.tests import BaseCase, TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

from ..utils import plain_words
from ..utils.auth import AuthError
from ..utils.mappers.activity import activity_subject
from .common import PushCase

I18N = Path(__file__).resolve().parent.parent / "i18n"
MODULE = "o365_calendar_sync"
# %(name)s, %s, %d: what Python formats; a translation must keep exactly the same ones.
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")


def catalogue(path):
    """{msgid: (msgstr, fuzzy)} of a .po/.pot file, read with polib (Odoo's own dependency)."""
    return {entry.msgid: (entry.msgstr, "fuzzy" in entry.flags) for entry in polib.pofile(str(path)) if entry.msgid}


@tagged("post_install", "-at_install")
class TestCatalogues(BaseCase):
    def test_french_and_german_are_complete(self):
        """S3 (issue 23): fr.po and de.po translate every msgid of the template, none fuzzy, none
        left over from an older template, each keeping the msgid's placeholders (the translations
        kept ahead in tools/i18n_compendium too)."""
        template = catalogue(I18N / f"{MODULE}.pot")
        self.assertGreater(len(template), 300)
        for lang in ("fr", "de"):
            with self.subTest(lang=lang):
                translated = catalogue(I18N / f"{lang}.po")
                self.assertEqual(sorted(set(template) - set(translated)), [], f"{lang}.po misses msgids")
                self.assertEqual(sorted(set(translated) - set(template)), [], f"{lang}.po has stale msgids")
                self.assertEqual([m for m, (s, _f) in translated.items() if not s.strip()], [], "untranslated")
                self.assertEqual([m for m, (_s, fuzzy) in translated.items() if fuzzy], [], "fuzzy")
                for msgid, (msgstr, _fuzzy) in translated.items():
                    self.assertEqual(
                        sorted(PLACEHOLDER.findall(msgstr)), sorted(PLACEHOLDER.findall(msgid)), f"{lang}: {msgid!r}"
                    )
                # Translations written ahead for words not exported yet (tools/i18n_export.sh merges them).
                ahead = catalogue(I18N.parent / "tools" / "i18n_compendium" / f"{lang}.po")
                for msgid, (msgstr, fuzzy) in ahead.items():
                    self.assertTrue(msgstr.strip() and not fuzzy, f"compendium {lang}: {msgid!r}")
                    self.assertEqual(
                        sorted(PLACEHOLDER.findall(msgstr)), sorted(PLACEHOLDER.findall(msgid)), f"{lang}: {msgid!r}"
                    )

    def test_plain_words_are_terms_that_read_english_by_default(self):
        """S3, S7 (issue 23): the plain-Python words stay English strings (stored, compared, logged as
        before) and can be said in French; the subject's separator follows French typography."""
        words = plain_words.explain(503, "ServiceUnavailable", "down")
        self.assertEqual(
            words.sentence(), "Outlook had a temporary problem. Odoo tries again by itself; nothing is lost."
        )
        self.assertEqual(
            words.sentence("fr_FR"),
            "Outlook a eu un problème temporaire. Odoo réessaie de lui-même ; rien n'est perdu.",
        )
        network = plain_words.explain(0, "NetworkError", "Read timed out.")
        self.assertEqual(network.in_lang("de_DE").what, "Outlook war nicht erreichbar (Zeitüberschreitung).")
        self.assertEqual(activity_subject("phonecall", "Relancer l'offre", "fr_FR"), "Appel : Relancer l'offre")
        self.assertEqual(activity_subject("phonecall", "Angebot nachfassen", "de_DE"), "Anruf: Angebot nachfassen")
        self.assertEqual(activity_subject("task", "Create a quote"), "Task: Create a quote")


@tagged("post_install", "-at_install")
class TestTemplate(TransactionCase):
    def test_committed_template_is_what_odoo_exports(self):
        """S3 (issue 23): i18n/o365_calendar_sync.pot holds exactly the terms Odoo's export finds in the
        installed module (views, fields, Python and JS messages); rerun tools/i18n_export.sh when not."""
        exported = {row[4] for row in TranslationModuleReader(self.env.cr, modules=[MODULE]) if row[0] == MODULE}
        committed = set(catalogue(I18N / f"{MODULE}.pot"))
        self.assertEqual(sorted(exported - committed), [], "terms missing from the .pot: run tools/i18n_export.sh")
        self.assertEqual(sorted(committed - exported), [], "stale terms in the .pot: run tools/i18n_export.sh")


@tagged("post_install", "-at_install")
class TestFrenchUser(PushCase):
    """A French-speaking user (fr_FR installed, the module's French loaded), beside English Alice."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.env["ir.module.module"]._load_module_terms([MODULE], ["fr_FR"], overwrite=True)
        cls.francoise = cls._push_user("francoise_i18n")
        cls.francoise.lang = "fr_FR"
        cls.francoise_upn = cls.francoise.email

    def as_francoise(self, records):
        return records.with_user(self.francoise).with_context(lang="fr_FR")

    def test_french_calls_reach_outlook_as_appel(self):
        """A2, A3 (issue 23): the subject and body of a French assignee's events are in French, as
        Odoo names its types ("Appel : …", "Tâche : …"); an English assignee's stay English."""
        self.schedule(self.call_type, "Relancer l'offre", user=self.francoise, date_deadline=date(2031, 3, 4))
        self.schedule(self.todo_type, "Préparer le devis", user=self.francoise, date_deadline=date(2031, 3, 5))
        self.schedule(self.call_type, "Follow up on offer", date_deadline=date(2031, 3, 4))
        self.run_push()
        [call] = self.mailbox_events(self.francoise_upn, subject="Appel : Relancer l'offre")
        self.assertTrue(self.mailbox_events(self.francoise_upn, subject="Tâche : Préparer le devis"))
        body = call["body"]["content"]
        for french in ("Ouvrir l'activité", "Contact : Jane Buyer", "Société : Acme Ltd", "Téléphone : "):
            self.assertIn(french, body)
        self.assertTrue(self.mailbox_events(self.alice_upn, subject="Phone Call: Follow up on offer"))

    def test_calendar_tab_in_french(self):
        """S3 (issue 23): the Calendar tab of a French user's preferences, its options and the Calendar
        app's indicator speak French."""
        users = self.as_francoise(self.env["res.users"])
        view = self.env.ref("base.view_users_form_simple_modif")
        result = users.get_views([(view.id, "form")])
        arch = etree.fromstring(result["views"]["form"]["arch"])
        [page] = arch.xpath("//page[@name='o365_calendar_page']")
        self.assertEqual(page.get("string"), "Calendrier")
        labels = result["models"]["res.users"]["fields"]
        self.assertEqual(labels["o365_sync_phonecalls"]["string"], "Synchroniser les appels")
        self.assertEqual(labels["o365_sync_holidays"]["string"], "Synchroniser les congés")
        self.assertEqual(users.o365_sync_indicator()["label"], "Microsoft 365 : synchronisation en cours")

    def test_badges_and_plain_words_in_french(self):
        """S3, S7, E2 (issue 23): while Outlook fails, the French user's badge and sync status say why in
        French; an English reader of the same activity reads the badge in English."""
        self.emulator.state.add_fault(mailbox=self.francoise_upn, kind="status", status=503, count=None)
        call = self.schedule(self.call_type, "Relancer l'offre", user=self.francoise, date_deadline=date(2031, 3, 6))
        self.run_push()
        self.assertEqual(self.queue_rows(call).attempts, 1)
        mine = self.as_francoise(call)
        self.assertEqual(mine.o365_sync_status, "waiting")
        self.assertTrue(mine.o365_sync_message.startswith("En attente : Outlook a eu un problème temporaire."))
        self.assertTrue(mine.o365_sync_message.endswith("; rien n'est perdu."))
        self.assertTrue(
            call.with_context(lang="en_US").o365_sync_message.startswith("Waiting: Outlook had a temporary")
        )
        account = self.as_francoise(self._account(self.francoise))
        self.assertIn("Outlook a eu un problème temporaire.", account.last_error_words)

    def test_reconnect_needed_in_french(self):
        """S7 (issue 23): a refused sign-in found by a job is told to the French user in French: the
        plain words on their Calendar tab and the one notification."""
        account = self._account(self.francoise)
        account.flag_reconnect_needed(AuthError("invalid_grant: AADSTS50173 revoked", reconnect=True))
        words = self.as_francoise(account).last_error_words
        self.assertTrue(words.startswith("Reconnexion nécessaire. Microsoft 365 n'accepte plus votre connexion"), words)
        self.assertIn("Reconnectez-vous", words)
        notices = self.env["mail.message"].search(
            [
                ("subject", "=", "Microsoft 365 : reconnexion nécessaire"),
                ("partner_ids", "in", self.francoise.partner_id.ids),
            ]
        )
        self.assertEqual(len(notices), 1)
        self.assertIn("Rien n'est perdu", notices.body)
        self.assertNotIn("Nothing is lost", notices.body)
