"""Limits on what a request may cost: its body size (enforced while the stream is
read) and the requests in flight (load shedding); each refusal is answered in
JSON. The rate per key is in :mod:`app.ratelimit`."""

from __future__ import annotations

import asyncio
import json
import math
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_body


def _too_large(limit: int) -> HTTPException:
    # An HTTPException, not an ApiError: FastAPI re-raises those from body parsing
    # where any other exception becomes a generic 400. The handler names it
    # upload_too_large.
    return HTTPException(413, f"the request body exceeds {limit} bytes")


def _too_slow(idle: float, total: float) -> HTTPException:
    return HTTPException(
        408,
        f"the request body must arrive with no pause over {idle:g} s and within {total:g} s",
        headers={"connection": "close"},
    )


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, and slow ones with 408.

    A declared Content-Length over the limit is refused before reading; a
    chunked or lying body is cut off as soon as the running total passes it,
    so no more than ``limit`` bytes are ever buffered. A client that pauses
    longer than ``idle_timeout`` between chunks, or takes longer than
    ``body_timeout`` in all (one byte a second), would hold a request slot for
    as long as it likes; it gets a 408 instead.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        idle_timeout: float = 30.0,
        body_timeout: float = 300.0,
    ) -> None:
        self.app = app
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit:
                    await self._refuse(send)
                    return
        received = 0
        deadline = time.monotonic() + self.body_timeout

        async def limited_receive() -> Message:
            nonlocal received
            wait = min(self.idle_timeout, deadline - time.monotonic())
            try:
                # asyncio.timeout, not wait_for: wait_for wraps each chunk in a task.
                async with asyncio.timeout(max(wait, 0.001)):
                    message = await receive()
            except TimeoutError:
                raise _too_slow(self.idle_timeout, self.body_timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _too_large(self.limit)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, send: Send) -> None:
        detail = str(_too_large(self.limit).detail)
        await _send_json(send, 413, "upload_too_large", detail, [(b"connection", b"close")])


async def _send_json(
    send: Send, status: int, code: str, detail: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps(error_body(code, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Routes that decode, hash or write: the ones worth shedding. Health, metrics and
# exports stay answerable while the service is saturated.
SHED_PREFIXES = ("/check", "/register")


class LoadShedder:
    """Answer 503 with ``Retry-After`` at once when ``limit`` hashing requests are
    already in flight in this process, instead of queueing them for threads and
    letting every answer slow down."""

    def __init__(self, app: ASGIApp, limit: int, retry_after: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.retry_after = retry_after
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(SHED_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await _send_json(
                send,
                503,
                "overloaded",
                f"{self.in_flight} uploads are being hashed; retry shortly",
                [(b"retry-after", str(self.retry_after).encode())],
            )
            return
        self.in_flight += 1  # one event loop per process: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
