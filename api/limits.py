"""Limits on what a caller may send: the size of a request, what its text may hold, the pace of submissions."""

import json
import re
from collections import Counter
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

# The deepest real body (a submission) nests 2 levels; parsing or scanning a much deeper one recurses
# past Python's limit (RecursionError: a 500 and a reset connection), so it is refused before either.
MAX_JSON_DEPTH = 32
DEPTH_REASON = f"nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects"
# A key sent twice would be decided by the parser (the last one wins) and not by the caller.
REPEATED_KEY_REASON = "appears more than once in the same object; send each key once"

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class RequestSizeLimit:
    """What every request goes through before any route sees it.

    - A body over `max_bytes` is refused with 413, whether or not the request declares its length.
    - A NUL character in the path or anywhere in a JSON body is refused with 422 naming where it is.
    - A JSON body nested deeper than `MAX_JSON_DEPTH` is refused with 422 before it is parsed.
    - A JSON object with the same key twice is refused with 422 naming the key.

    The body (at most `max_bytes`) is read whole first, then handed on to the app unchanged. A form
    with files (multipart/form-data: evidence) may be up to `multipart_max_bytes`, and is no JSON.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES,
                 multipart_max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_max_bytes = multipart_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if NUL in scope["path"]:
            await _refuse_invalid(send, [FieldProblem(field="path", reason=NUL_REASON)])
            return
        headers = dict(scope["headers"])
        with_files = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = self.multipart_max_bytes if with_files else self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        messages, body = await self._read(receive, limit)
        if body is None:
            await self._refuse(send, limit)
            return
        if not with_files and (problems := _json_body_problems(body)):
            await _refuse_invalid(send, problems)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
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
            if received > limit:
                return messages, None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if messages[-1]["type"] != "http.request":
            return messages, body  # as they came: the app sees the client go away
        return [{"type": "http.request", "body": body, "more_body": False}], body

    async def _refuse(self, send: Send, limit: int) -> None:
        await _send_error(send, 413, ErrorBody(code="request_too_large",
                                               message=f"the request body is over {limit} bytes"))


def _json_body_problems(body: bytes) -> list[FieldProblem]:
    if _nests_too_deep(body):
        return [FieldProblem(field="body", reason=DEPTH_REASON)]
    return _json_problems(body)


def _nests_too_deep(body: bytes) -> bool:
    """Whether the brackets outside JSON strings nest deeper than allowed: counted, not parsed, so no recursion."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for bracket in _BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        depth += 1 if bracket.group() in (b"[", b"{") else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


class _JsonObject(dict):
    """A JSON object as this scan parses it: it remembers the keys that came more than once."""

    repeated: list[str]


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    parsed = _JsonObject(pairs)
    parsed.repeated = [key for key, count in Counter(key for key, _ in pairs).items() if count > 1]
    return parsed


def _json_problems(body: bytes) -> list[FieldProblem]:
    """NUL characters (in keys or values) and repeated keys of a JSON body; nothing if it is not JSON (the route
    says so)."""
    if body.lstrip()[:1] not in (b"{", b"["):
        return []
    try:
        document = json.loads(body, object_pairs_hook=_json_object)
    except ValueError:
        return []
    return [FieldProblem(field=".".join(path) or "body", reason=reason)
            for path, reason in _problem_paths(document, [])]


def _problem_paths(value: Any, path: list[str]) -> list[tuple[list[str], str]]:
    if isinstance(value, str):
        return [(path, NUL_REASON)] if NUL in value else []
    if isinstance(value, _JsonObject):
        found = [(path + [key], REPEATED_KEY_REASON) for key in value.repeated]
        for key, item in value.items():
            found += [(path + [key], NUL_REASON)] if NUL in key else _problem_paths(item, path + [key])
        return found
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _problem_paths(item, path + [str(index)])]
    return []


async def _refuse_invalid(send: Send, fields: list[FieldProblem]) -> None:
    message = "invalid request: " + "; ".join(f"{f.field}: {f.reason}" for f in fields)
    await _send_error(send, 422, ErrorBody(code="validation_error", message=message, fields=fields))


async def _send_error(send: Send, status: int, error: ErrorBody) -> None:
    body = ErrorResponse(error=error).model_dump_json().encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
