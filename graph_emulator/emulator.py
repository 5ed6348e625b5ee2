"""GraphEmulator: the in-process handle tests, the demo and benchmarks use."""

import os
import tempfile

from . import server, tls
from .identity import Identity
from .persistence import Persistence
from .state import TenantState
from .subscriptions import Notifier


class GraphEmulator:
    def __init__(
        self,
        host="127.0.0.1",
        port=0,
        http_port=0,
        data_dir=None,
        browser_http=True,
        tenant_id=None,
        domain="contoso.example",
        verbose=False,
        public_host=None,
        persist=True,
        persist_interval=0.5,
    ):
        self.host, self.port, self.http_port = host, port, http_port
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="graph-emulator-")
        self.browser_http = browser_http and http_port is not None
        self.verbose = verbose
        self.public_host = public_host or ("localhost" if host in ("0.0.0.0", "::", "") else host)
        self.state = TenantState(tenant_id=tenant_id, domain=domain)
        self.ca_path, self._cert, self._key = tls.ensure_certificates(self.data_dir)
        self.identity = Identity(self.state, self, key_path=os.path.join(self.data_dir, "identity-key.pem"))
        self.state.identity = self.identity
        # State survives a stop/start with the same data_dir (persistence.py); loaded here, before start().
        self.persistence = Persistence(self.state, self.data_dir, persist_interval) if persist else None
        self.state.persistence = self.persistence
        self.restored = self.persistence.load(tenant_id) if self.persistence else False
        self.notifier = Notifier(self.state)
        self.state.notifier = self.notifier
        self._servers = []
        self.base_url = self.http_base_url = None

    def start(self):
        https, _ = server.start_listener(self, self.host, self.port, "https", server.tls_context(self._cert, self._key))
        self._servers.append(https)
        self.port = https.server_address[1]
        self.base_url = f"https://{self.public_host}:{self.port}"
        if self.http_port is not None:
            http, _ = server.start_listener(self, self.host, self.http_port, "http")
            self._servers.append(http)
            self.http_port = http.server_address[1]
            self.http_base_url = f"http://{self.public_host}:{self.http_port}"
        self.notifier.start()
        if self.persistence:
            self.persistence.start()
        return self

    def stop(self):
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        self._servers = []
        self.notifier.stop()
        if self.persistence:
            self.persistence.stop()

    def __enter__(self):
        return self.start() if not self._servers else self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def graph_url(self):
        return self.base_url + "/v1.0"

    @property
    def browser_base_url(self):
        """Where the discovery document sends browsers (/authorize, /logout)."""
        return self.http_base_url if self.browser_http and self.http_base_url else self.base_url

    def authority_url(self, tenant="common"):
        return f"{self.base_url}/{tenant}"

    def http_session(self):
        """A requests.Session that trusts the emulator CA regardless of REQUESTS_CA_BUNDLE / proxy variables
        (requests lets those override Session.verify). Usable as msal's http_client=."""
        import requests

        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_path
        return session

    def wait_for_notifications(self, timeout=10.0):
        return self.notifier.wait_idle(timeout)
