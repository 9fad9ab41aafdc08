"""Limits on what a caller may send: the size of a request, what its text may hold, the pace of submissions."""

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ErrorBody, ErrorResponse, FieldProblem

# The largest valid submission (10 000 characters of description, Arabic at 2 bytes each, plus the rest)
# stays well under this; anything bigger is refused before it is parsed.
MAX_REQUEST_BYTES = 64 * 1024

# PostgreSQL cannot store a NUL character in text: one that got in would fail a query (500) or, worse,
# be accepted and then fail the workflow's step that records it, again and again.
NUL = "\x00"
NUL_REASON = "contains a NUL character (\\u0000), which is not allowed in text"


class RequestSizeLimit:
    """What every request goes through before any route sees it.

    - A body over `max_bytes` is refused with 413, whether or not the request declares its length.
    - A NUL character in the path or anywhere in a JSON body is refused with 422 naming where it is.

    The body (at most `max_bytes`) is read whole first, then handed on to the app unchanged.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if NUL in scope["path"]:
            await _refuse_invalid(send, [FieldProblem(field="path", reason=NUL_REASON)])
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        messages, body = await self._read(receive)
        if body is None:
            await self._refuse(send)
            return
        if b"\\u0000" in body and (fields := _nul_fields(body)):
            await _refuse_invalid(send, fields)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> tuple[list[Message], bytes | None]:
        """The messages of the request's body and the body itself; None for a body over the limit."""
        messages: list[Message] = []
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client went away: the app will see it
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                return messages, None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if messages[-1]["type"] != "http.request":
            return messages, body  # as they came: the app sees the client go away
        return [{"type": "http.request", "body": body, "more_body": False}], body

    async def _refuse(self, send: Send) -> None:
        await _send_error(send, 413, ErrorBody(code="request_too_large",
                                               message=f"the request body is over {self.max_bytes} bytes"))


def _nul_fields(body: bytes) -> list[FieldProblem]:
    """Where a JSON body holds a NUL, in key or value; nothing if it is not JSON (the route says so)."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    return [FieldProblem(field=".".join(path) or "body", reason=NUL_REASON) for path in _nul_paths(document, [])]


def _nul_paths(value: Any, path: list[str]) -> list[list[str]]:
    if isinstance(value, str):
        return [path] if NUL in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += [path + [key]] if NUL in key else _nul_paths(item, path + [key])
        return found
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _nul_paths(item, path + [str(index)])]
    return []


async def _refuse_invalid(send: Send, fields: list[FieldProblem]) -> None:
    message = "invalid request: " + "; ".join(f"{f.field}: {f.reason}" for f in fields)
    await _send_error(send, 422, ErrorBody(code="validation_error", message=message, fields=fields))


async def _send_error(send: Send, status: int, error: ErrorBody) -> None:
    body = ErrorResponse(error=error).model_dump_json().encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
