"""Alert receivers the tests start on 127.0.0.1: a webhook server that can fail or hang."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import free_port


class Hook:
    """A webhook receiver on 127.0.0.1 that fails the first `failures` requests with a 503, or hangs."""

    def __init__(self, failures: int = 0, status: int = 503, hang: bool = False):
        self.failures, self.status, self.hang = failures, status, hang
        self.requests: list[dict] = []
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append({"headers": dict(self.headers), "body": json.loads(body)})
                if hook.hang:
                    hook.release.wait(30)
                    return
                code = hook.status if len(hook.requests) <= hook.failures else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[str]:
        return [r["body"]["event"] for r in self.requests]
