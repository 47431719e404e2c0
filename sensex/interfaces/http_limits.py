"""The API's HTTP protocol with a deadline for reading each request.

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
