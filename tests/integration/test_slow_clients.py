"""Slow clients cannot hold the API's connections: a request must arrive whole within its deadline;
a slow answer is not the client's fault and is never cut."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn
from conftest import free_port

from sensex.interfaces.http_limits import DeadlineH11Protocol

pytestmark = pytest.mark.integration
DEADLINE = 1.0


class QuickDeadline(DeadlineH11Protocol):
    read_timeout_s = DEADLINE


async def app(scope, receive, send):
    """Answers after reading the whole body; `/slow` takes longer than the read deadline."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    if scope["path"] == "/slow":
        await asyncio.sleep(DEADLINE * 2)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def server():
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=QuickDeadline, log_level="warning",
                            limit_concurrency=50, timeout_keep_alive=30)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(200):
        if running.started:
            break
        time.sleep(0.05)
    yield port
    running.should_exit = True
    thread.join(timeout=10)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE * 6)
    return sock


def _closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes the connection (recv returns b'')."""
    started = time.monotonic()
    while sock.recv(1024):
        pass
    return time.monotonic() - started


@pytest.mark.parametrize("partial", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n",
                                     b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"as_of\":"])
def test_a_request_that_never_finishes_arriving_is_cut_off(server, partial):
    with _connect(server) as sock:
        sock.sendall(partial)
        assert _closed_after(sock) < DEADLINE * 4


def test_an_idle_keep_alive_connection_is_cut_off_after_its_answer(server):
    with _connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET / HTTP/1.1\r\n")  # a second request that stalls
        assert _closed_after(sock) < DEADLINE * 4


def test_a_slow_answer_is_not_the_clients_fault(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(1024):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")


def test_serve_runs_the_api_with_the_deadline_and_a_connection_limit(monkeypatch):
    from sensex.interfaces import cli

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    assert cli.run(["serve", "--port", str(free_port())]) == 0
    assert seen["http"] is DeadlineH11Protocol and seen["limit_concurrency"] > 0
