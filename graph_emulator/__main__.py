"""python3 -m graph_emulator --port 8443 --http-port 8480 --data-dir DIR [--demo]"""

import argparse
import signal
import sys
import threading

from .emulator import GraphEmulator


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python3 -m graph_emulator", description="Local Microsoft Graph (calendar) + identity emulator"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443, help="HTTPS port (0 = any free port)")
    p.add_argument("--http-port", type=int, default=8480, help="plain-HTTP port for browsers (-1 to disable)")
    p.add_argument("--data-dir", default=".graph-emulator", help="where the CA and server certificate live")
    p.add_argument("--demo", action="store_true", help="seed the demo tenant")
    p.add_argument("--tenant-id", default=None)
    p.add_argument("--no-browser-http", action="store_true", help="keep authorization_endpoint on https")
    p.add_argument("--verbose", action="store_true", help="log every request")
    args = p.parse_args(argv)

    from . import demo

    tenant_id = args.tenant_id or (demo.DEMO_TENANT_ID if args.demo else None)
    emu = GraphEmulator(
        host=args.host,
        port=args.port,
        http_port=None if args.http_port < 0 else args.http_port,
        data_dir=args.data_dir,
        browser_http=not args.no_browser_http,
        tenant_id=tenant_id,
        verbose=args.verbose,
    )
    if args.demo and not emu.restored:
        summary = demo.seed(emu.state)
    elif args.demo:
        # The data dir already holds a tenant from an earlier run: keep it (and its changes). A snapshot
        # from before application permissions existed gets the demo's requested permissions and admin.
        demo.upgrade(emu.state)
        summary = {
            "tenant_id": emu.state.tenant_id,
            "client_id": demo.DEMO_CLIENT_ID,
            "client_secret": demo.DEMO_CLIENT_SECRET,
            "users": [mb.upn for mb in emu.state.mailboxes.values()],
        }
    emu.start()
    print("Graph emulator running")
    print(f"  HTTPS base     {emu.base_url}")
    print(f"  HTTP base      {emu.http_base_url or '-'}  (browser sign-in page, web view)")
    print(f"  Graph          {emu.graph_url}")
    print(f"  Authority      {emu.authority_url(emu.state.tenant_id)}  (or {emu.authority_url('common')})")
    print(f"  CA certificate {emu.ca_path}   (pass verify=<this> to msal / requests)")
    print(f"  Web view       {(emu.http_base_url or emu.base_url)}/")
    if args.demo:
        print(f"  Demo tenant    {summary['tenant_id']}  app {summary['client_id']} / {summary['client_secret']}")
        print(f"  Demo users     {', '.join(summary['users'])}  (tenant admin: {demo.DEMO_ADMIN})")
        print(
            f"  Admin consent  {emu.browser_base_url}/{emu.state.tenant_id}/adminconsent?client_id="
            f"{demo.DEMO_CLIENT_ID}&redirect_uri=<a localhost URI>  (application permissions: "
            f"{', '.join(demo.DEMO_APPLICATION_PERMISSIONS)})"
        )
    sys.stdout.flush()

    stop = threading.Event()
    # Both set explicitly: a process started in the background by a shell inherits SIGINT
    # ignored, and Ctrl-C (or a test's SIGINT) must still stop it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *a: stop.set())
    while not stop.wait(0.5):
        pass
    print("stopping")
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
