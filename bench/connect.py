"""Connect benchmark users through the real MSAL authorization-code flow against the emulator.

The module's own ``utils.auth.MicrosoftLogin`` (MSAL, PKCE) does the flow; this
file only plays the browser on the emulator's consent page, as tests/common.py
``_sign_in`` does, and hands the redirect back to MSAL.
"""

import json
from urllib.parse import parse_qsl, urlsplit

import requests

from .common import CALLBACK_PATH

REDIRECT_BASE = "http://127.0.0.1:8069"


def consent(emu, flow, upn):
    """Accept the consent page as ``upn``; returns the query of the redirect to the callback."""
    authorize_url = flow["auth_uri"]
    form = dict(parse_qsl(urlsplit(authorize_url).query), login=upn, consent="accept")
    answer = requests.post(
        authorize_url.split("?")[0], data=form, allow_redirects=False, timeout=30, verify=emu.ca_path
    )
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"consent page answered {answer.status_code}: {answer.text[:300]}")
    return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))


def connect_account(emu, account, upn, redirect_base=REDIRECT_BASE):
    """Sign ``account`` (o365.sync.account) in as ``upn`` and let the module read the mailbox (S2)."""
    login = account._login()
    flow = login.begin(redirect_uri=redirect_base + CALLBACK_PATH, login_hint=upn)
    login.complete(flow, consent(emu, flow, upn))
    account._connect(login)
    return account


def msal_tokens(emu, app_settings, upn, redirect_base=REDIRECT_BASE):
    """(access token, refresh token, seconds valid) for ``upn`` through MSAL, for Odoo's microsoft_calendar.

    ``app_settings`` is a ``utils.settings.AzureAppSettings`` aimed at the emulator.
    """
    from odoo.addons.o365_calendar_sync.utils.auth import MicrosoftLogin

    login = MicrosoftLogin(app_settings)
    flow = login.begin(redirect_uri=redirect_base + CALLBACK_PATH, login_hint=upn)
    login.complete(flow, consent(emu, flow, upn))
    access_token = login.access_token()
    cache = json.loads(login.serialized_cache())
    refresh_token = next(iter(cache.get("RefreshToken", {}).values()), {}).get("secret")
    at_entry = next(iter(cache.get("AccessToken", {}).values()), {})
    ttl = int(at_entry.get("expires_on", 0)) - int(at_entry.get("cached_at", 0)) if at_entry else 3599
    return access_token, refresh_token, ttl or 3599
