"""`python3 -m graph_emulator --demo` starts, serves the demo tenant and stops on Ctrl-C."""

import os
import re
import signal
import subprocess
import sys
import time

import msal
import requests


def test_demo_command(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graph_emulator",
            "--port",
            "0",
            "--http-port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--demo",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.time() + 30
        while time.time() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("  Demo users"):
                break
        out = "".join(lines)
        https = re.search(r"HTTPS base\s+(\S+)", out).group(1)
        http = re.search(r"HTTP base\s+(\S+)", out).group(1)
        ca = re.search(r"CA certificate\s+(\S+)", out).group(1)
        assert os.path.exists(ca) and ca.startswith(str(tmp_path))
        users = requests.get(http + "/_emulator/users").json()["value"]
        assert {u["userPrincipalName"] for u in users} == {
            "alex@contoso.example",
            "sam@contoso.example",
            "kim@contoso.example",
            "admin@contoso.example",
        }
        assert [u["userPrincipalName"] for u in users if u["isAdmin"]] == ["admin@contoso.example"]
        alex = requests.get(http + "/_emulator/mailboxes/alex@contoso.example/events").json()["value"]
        subjects = {e["subject"] for e in alex}
        assert {"Doctor appointment", "Daily sync", "Trade fair Birmingham"} <= subjects
        assert any(e["sensitivity"] == "private" for e in alex) and any(e["isAllDay"] for e in alex)
        assert any(e["type"] == "seriesMaster" for e in alex)
        externals = {a["emailAddress"]["address"] for e in alex for a in e["attendees"]}
        assert {"jane.doe@customer.example", "bob@acme.example"} <= externals
        assert len(requests.get(http + "/_emulator/mailboxes/sam@contoso.example/categories").json()["value"]) == 6
        assert "Quarterly review" in requests.get(http + "/").text
        # The demo app works with msal against the printed authority.
        s = requests.Session()
        s.trust_env = False
        s.verify = ca
        app = msal.ConfidentialClientApplication(
            "demo-client-id",
            client_credential="demo-client-secret",
            authority=https + "/common",
            instance_discovery=False,
            http_client=s,
        )
        flow = app.initiate_auth_code_flow(["Calendars.ReadWrite"], redirect_uri="http://localhost:8069/any/callback")
        assert flow["auth_uri"].startswith(http)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest = proc.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0 and "stopping" in rest
    # Certificates are reused on the next start.
    ca_file = tmp_path / "ca.pem"
    before = ca_file.read_text()
    from graph_emulator import tls

    tls.ensure_certificates(str(tmp_path))
    assert ca_file.read_text() == before
