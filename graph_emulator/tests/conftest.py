import pytest

from graph_emulator import GraphEmulator
from graph_emulator.testing import CLIENT_ID, CLIENT_SECRET, REDIRECT, Graph, login

USERS = [
    ("alex@contoso.example", "Alex Wilber", "Europe/London"),
    ("sam@contoso.example", "Sam Taylor", "America/New_York"),
    ("kim@contoso.example", "Kim Akers", "UTC"),
]


@pytest.fixture(scope="session")
def emu(tmp_path_factory):
    emulator = GraphEmulator(host="127.0.0.1", port=0, http_port=0, data_dir=str(tmp_path_factory.mktemp("emu")))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def tenant(emu):
    """A fresh tenant for every test: three users, one app."""
    emu.state.reset()
    emu.state.update_settings(notification_retry_delays=[0.2, 0.3, 0.4])
    for upn, name, tz in USERS:
        emu.state.add_user(upn, name, tz)
    emu.state.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT], allow_any_localhost_redirect=False)
    return emu.state


@pytest.fixture
def alex(emu, tenant):
    return Graph(emu, token=login(emu, "alex@contoso.example")["access_token"])


@pytest.fixture
def sam(emu, tenant):
    return Graph(emu, token=login(emu, "sam@contoso.example")["access_token"])


@pytest.fixture
def outlook(emu, tenant):
    """Act as a user in Outlook: outlook('kim@contoso.example').post(...)."""
    return lambda upn: Graph(emu, act_as=upn)
