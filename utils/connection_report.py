"""The report of the administrator's "Test connection" (SPEC S1): one line per check, in order.

``CHECKS`` lists what is checked, in the administrator's words; ``CheckResult`` gathers
each check's outcome (passed, failed, or not checked and why) in the reader's language,
and sums them up. The checks themselves: ``connection_steps.py`` (both connection modes)
and ``connection_check_organization.py`` (the organisation-wide connection, O1); the entry
point, ``connection_check.check_connection``.
"""

from dataclasses import dataclass, field

from .translation import _lt, in_lang

PASS, FAIL, SKIP = "pass", "fail", "skip"
MARKS = {PASS: "✔", FAIL: "✘", SKIP: "○"}

# The checks, in order: (key, what it checks, in the user's words).
CHECKS = (
    ("settings", _lt("Settings filled in")),
    ("login", _lt("Microsoft sign-in service")),
    ("client", _lt("Client ID and secret")),
    ("redirect", _lt("Redirect URI")),
    ("graph", _lt("Microsoft Graph")),
    # Organisation-wide connection only (SPEC O1).
    ("permissions", _lt("Application permissions")),
    ("mailbox", _lt("Reading a mailbox")),
)


@dataclass
class CheckResult:
    """One line per check, in the order of CHECKS: (key, label, status, text), in language ``lang``."""

    checks: list = field(default_factory=list)
    lang: str = ""

    def good(self, key, text):
        self._add(key, PASS, text)

    def bad(self, key, text):
        self._add(key, FAIL, text)

    def skipped(self, key, text):
        self._add(key, SKIP, text)

    def _add(self, key, status, text):
        label = in_lang(dict(CHECKS)[key], self.lang)
        self.checks.append({"key": key, "label": label, "status": status, "text": in_lang(text, self.lang)})

    @property
    def ok(self):
        return all(check["status"] == PASS for check in self.checks)

    @property
    def failed(self):
        return [check for check in self.checks if check["status"] == FAIL]

    @property
    def lines(self):
        return [f"{MARKS[c['status']]} {c['label']}: {c['text']}" for c in self.checks]

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def summary(self):
        """A title: all passed, or which check failed first."""
        if self.ok:
            return in_lang(_lt("All %(count)s checks passed", count=len(self.checks)), self.lang)
        failed = self.failed
        first = failed[0]["label"] if failed else ""
        if len(failed) > 1:
            first = in_lang(_lt("%(first)s (and %(more)s more)", first=first, more=len(failed) - 1), self.lang)
        return in_lang(
            _lt(
                "%(failed)s of %(count)s checks failed: %(first)s",
                failed=len(failed),
                count=len(self.checks),
                first=first,
            ),
            self.lang,
        )
