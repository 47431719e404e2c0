"""The API's limits on what a client may send: a deadline for reading each request (the HTTP
protocol below) and a cap on the body's size (`limit_body`, 413 beyond it).

uvicorn closes an idle keep-alive connection, but a client that connects and never finishes its
request line, headers or body holds its connection, a file descriptor and a slot forever (a
slow-loris attack: 3,000 such connections kept the API's descriptors at 3,011 past 70 s). Here a
request must arrive whole within `REQUEST_READ_TIMEOUT_S` of the connection being ready for it
(when it opens, or when the previous response was sent); otherwise the connection is closed. The
time the application takes to answer is not counted: that is the server's, not the client's.
"""

from __future__ import annotations

import asyncio

import h11
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_READ_TIMEOUT_S = 10.0  # a request is a few hundred bytes: far longer than any honest client needs
MAX_CONNECTIONS = 256  # beyond this uvicorn answers 503 at once (`limit_concurrency`)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request has not fully arrived in time."""

    read_timeout_s = REQUEST_READ_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._arm_read_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE):  # the client has sent its whole request
            self._disarm_read_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_read_deadline()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)

    def _arm_read_deadline(self) -> None:
        self._disarm_read_deadline()
        self._read_deadline = self.loop.call_later(self.read_timeout_s, self._read_deadline_passed)

    def _disarm_read_deadline(self) -> None:
        deadline = getattr(self, "_read_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._read_deadline = None

    def _read_deadline_passed(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.logger.info("Closed a connection whose request did not arrive within %.0f s.", self.read_timeout_s)
            self.transport.close()


def limit_body(app, limit: int):
    """ASGI middleware: a request body over `limit` bytes gets 413. The body (small by then) is
    read here and handed on, so a chunked body without Content-Length is counted too."""
    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        too_large = JSONResponse(status_code=413, content={
            "detail": f"The request body is over {limit} bytes: a forecast request is a small JSON object.",
            "error": "RequestTooLarge"})
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await too_large(scope, receive, send)
        buffered, size = [], 0
        while True:
            message = await receive()
            buffered.append(message)
            size += len(message.get("body", b""))
            if size > limit:
                return await too_large(scope, receive, send)
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay():
            return buffered.pop(0) if buffered else await receive()

        return await app(scope, replay, send)
    return middleware
