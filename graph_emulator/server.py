"""HTTP(S) listeners: stdlib ThreadingHTTPServer, TLS wrapped per connection so a
slow handshake never blocks the accept loop. Routes every request to the app."""

import contextlib
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import control, graph
from .errors import DropConnection
from .httpio import Request, json_response


def dispatch(emu, req):
    path = req.path
    if path.lower() == "/v1.0" or path.lower().startswith("/v1.0/"):
        return graph.handle(emu, req)
    if path == "/" or path.startswith("/_emulator"):
        return control.handle(emu, req)
    started = time.time()
    resp = emu.identity.handle(req)
    if resp is not None:
        # Identity calls are logged too, so benchmarks can count sign-ins and refreshes; token requests
        # carry grantType and clientId (state.token_request_count).
        emu.state.log_request(
            {
                "time": started,
                "method": req.method,
                "path": req.path,
                "endpoint": "/{tenant}/" + req.path.split("/", 2)[-1],
                "mailbox": None,
                "status": resp.status,
                "actAs": False,
                "clientId": None,
                "inBatch": False,
                "requestId": None,
                "ms": round((time.time() - started) * 1000, 1),
                **getattr(req, "log_info", {}),
            }
        )
        return resp
    return json_response({"error": {"code": "NotFound", "message": f"No route for {req.method} {path}"}}, 404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    ssl_context = None

    def finish_request(self, request, client_address):
        if self.ssl_context is not None:
            try:
                request.settimeout(30)
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def make_handler(emu, scheme):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "GraphEmulator/1.0"

        def log_message(self, fmt, *args):
            if emu.verbose:
                sys.stderr.write(f"{scheme} {fmt % args}\n")

        def _body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if not size:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _serve(self):
            base = emu.base_url if scheme == "https" else emu.http_base_url
            req = Request(self.command, self.path, dict(self.headers.items()), self._body(), base, scheme)
            try:
                resp = dispatch(emu, req)
            except DropConnection:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            except Exception as exc:  # keep the server alive; report like Graph would
                import traceback

                traceback.print_exc()
                resp = json_response(
                    {"error": {"code": "InternalServerError", "message": f"Emulator bug: {exc!r}"}}, 500
                )
            self.send_response(resp.status)
            for key, value in resp.headers.items():
                self.send_header("-".join(p.capitalize() for p in key.split("-")), value)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD" and resp.body:
                self.wfile.write(resp.body)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _serve

    return Handler


def start_listener(emu, host, port, scheme, ssl_context=None):
    server = _Server((host, port), make_handler(emu, scheme))
    server.ssl_context = ssl_context
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"graph-emulator-{scheme}", daemon=True
    )
    thread.start()
    return server, thread


def tls_context(cert_path, key_path):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_path, key_path)
    return ctx
