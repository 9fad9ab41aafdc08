"""Limits on what a caller may send: the size of a request and the pace of submissions."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ErrorBody, ErrorResponse

# The largest valid submission (10 000 characters of description, Arabic at 2 bytes each, plus the rest)
# stays well under this; anything bigger is refused before it is parsed.
MAX_REQUEST_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    pass


class RequestSizeLimit:
    """Refuse a request body over `max_bytes` with 413, whether or not it declares its length."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = ErrorResponse(
            error=ErrorBody(code="request_too_large", message=f"the request body is over {self.max_bytes} bytes")
        ).model_dump_json().encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
