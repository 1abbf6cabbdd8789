"""A request body limit enforced while the stream is read, answered in JSON."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_body


def _too_large(limit: int) -> HTTPException:
    # An HTTPException, not an ApiError: FastAPI re-raises those from body parsing
    # where any other exception becomes a generic 400. The handler names it
    # upload_too_large.
    return HTTPException(413, f"the request body exceeds {limit} bytes")


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413.

    A declared Content-Length over the limit is refused before reading; a
    chunked or lying body is cut off as soon as the running total passes it,
    so no more than ``limit`` bytes are ever buffered.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

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

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _too_large(self.limit)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(error_body("upload_too_large", _too_large(self.limit).detail)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
