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


class MessagingApi:
    """A local stand-in for the SMS (Twilio Messages) and Telegram Bot APIs: it checks the
    credentials and answers as the real services document (201 / 200 with JSON, 401 on a wrong
    token, 400 for an unknown chat), failing the first `failures` requests with a 503."""

    def __init__(self, sid: str = "AC0123", sms_token: str = "sms-secret-token",
                 bot_token: str = "123456:ABCdefGhIJKlmnOPQRstuVWXyz0123456789", chat: str = "-1001234567890",
                 failures: int = 0):
        import base64
        from urllib.parse import parse_qs

        self.requests: list[dict] = []
        api = self
        basic = "Basic " + base64.b64encode(f"{sid}:{sms_token}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                record = {"path": self.path, "headers": dict(self.headers), "raw": raw.decode()}
                api.requests.append(record)
                if len(api.requests) <= failures:
                    return self.answer(503, {"message": "try later"})
                if self.path == f"/2010-04-01/Accounts/{sid}/Messages.json":
                    record["form"] = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                    if self.headers.get("Authorization") != basic:
                        return self.answer(401, {"code": 20003, "message": "Authenticate"})
                    return self.answer(201, {"sid": "SM0001", "status": "queued", "to": record["form"].get("To")})
                if self.path.startswith("/bot") and self.path.endswith("/sendMessage"):
                    record["json"] = json.loads(raw)
                    if self.path != f"/bot{bot_token}/sendMessage":
                        return self.answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    if str(record["json"].get("chat_id")) != chat:
                        return self.answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
                    return self.answer(200, {"ok": True, "result": {"message_id": len(api.requests)}})
                return self.answer(404, {"message": "not found"})

            def answer(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
