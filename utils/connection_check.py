"""The administrator's "Test connection" (SPEC S1): what is wrong, in plain words.

``check_connection`` runs the checks in order for the connection mode set: the steps both
modes make (``connection_steps.py``: the login service, the client secret, the redirect
URI, Graph), and for the organisation-wide connection its own (``connection_check_organization.py``:
the application's token, its permissions, one mailbox). Each writes its line into a
``CheckResult`` (``connection_report.py``). No user signs in and no token is kept.
"""

from .connection_check_organization import _check_organization
from .connection_report import CHECKS, CheckResult
from .connection_steps import NEEDS_LOGIN, _check_client, _check_graph, _check_login, _check_redirect
from .translation import _lt


def check_connection(app, callback_url, mailbox=None, lang=None):
    """Run every check against ``app`` (AzureAppSettings); return a CheckResult.

    Every check gets a line, so the administrator sees what works as well as
    what does not; a check that needs an earlier one to pass says so. In
    organisation mode (O1) ``mailbox`` is the address whose mailbox the
    application should be able to read (the administrator's own). The words are in
    language ``lang`` (English when None).
    """
    result = CheckResult(lang=lang or "")
    missing = app.missing()
    keys = [key for key, _label in CHECKS if app.organization or key not in ("permissions", "mailbox")]
    if missing:
        result.bad("settings", _lt("Fill in: %(missing)s.", missing=", ".join(missing)))
        for key in keys[1:]:
            result.skipped(key, _lt("Not checked: fill in the settings first."))
        return result
    if app.organization:
        return _check_organization(app, callback_url, mailbox, result)
    result.good("settings", _lt("Client ID, secret, tenant and endpoints are filled in."))
    login = _check_login(app, result)
    if login is None:
        for key in ("client", "redirect"):
            result.skipped(key, NEEDS_LOGIN)
    else:
        _check_client(app, login, result)
        _check_redirect(app, login, callback_url, result)
    _check_graph(app, result)
    return result
