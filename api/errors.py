"""The one place where domain, validation and Temporal errors become HTTP errors.

Every error body has the same shape:
    {"error": {"code": "...", "message": "...", "fields": [{"field": "a.b", "reason": "..."}]}}
"""

import json
from http import HTTPStatus

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

# What a 503 asks the caller to wait before trying again.
RETRY_AFTER_SECONDS = 5


class FieldProblem(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: list[FieldProblem] = []


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    error: ErrorBody


class ApiError(Exception):
    """An error with its HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str, fields: list[FieldProblem] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or []
        self.headers = headers


# The OpenAPI entry of a 401, shared by every route that takes a key.
UNAUTHORIZED_RESPONSE = {"model": ErrorResponse, "description": "No valid API key."}


def not_found(reference: str) -> ApiError:
    return ApiError(404, "not_found", f"no case {reference}")


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)",
                    headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def from_update_failure(error: WorkflowUpdateFailedError) -> ApiError:
    """A refused action (the validator's reason) is a conflict with the case's state."""
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return ApiError(409, "action_refused", cause.message)
    return ApiError(409, "action_refused", str(cause or error))


def from_rpc_error(error: RPCError, reference: str, *, case_finished: bool) -> ApiError:
    """An answer of Temporal's that is not the case's own; `case_finished`: its workflow has ended.

    Temporal answers an Update to a finished workflow and to one that never was with the same
    NOT_FOUND (and the same detail type); only the workflow's own status tells them apart.
    """
    if error.status == RPCStatusCode.NOT_FOUND:
        if case_finished:
            return ApiError(409, "case_closed", f"case {reference} is closed; no further action is possible")
        return not_found(reference)
    # Refused before it reached the case (too busy, say): nothing happened. No answer at all is
    # api.service.updates' outcome_unknown.
    return ApiError(503, "temporal_unavailable", "the case engine turned the request away; nothing was done, try again",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _location(loc: tuple) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _problem(problem: dict) -> FieldProblem:
    if problem.get("type") == "json_invalid":
        # FastAPI puts the offset of the JSON error in `loc`; the field at fault is the body itself.
        reason = f"not a JSON document: {problem.get('ctx', {}).get('error', problem['msg'])}"
        return FieldProblem(field="body", reason=reason)
    loc = tuple(problem["loc"])
    if loc[:1] == ("query",) and any(isinstance(part, int) for part in loc):
        # A repeated query parameter (`status=a&status=b`) is named as sent; the reason says which value.
        index = next(part for part in loc if isinstance(part, int))
        name = _location(tuple(part for part in loc if not isinstance(part, int)))
        return FieldProblem(field=name, reason=f"{problem['msg']} (value {index + 1} of {name})")
    return FieldProblem(field=_location(loc), reason=problem["msg"])


# FastAPI answers 400 with this detail when a body cannot be read at all (e.g. JSON that is not UTF-8).
_UNREADABLE_BODY = "There was an error parsing the body"


def _body(code: str, message: str, fields: list[FieldProblem] | None = None) -> dict:
    return ErrorResponse(error=ErrorBody(code=code, message=message, fields=fields or [])).model_dump()


def _invalid(fields: list[FieldProblem]) -> JSONResponse:
    message = "invalid request: " + "; ".join(f"{f.field}: {f.reason}" for f in fields)
    return JSONResponse(_body("validation_error", message, fields), status_code=422)


# The code of an error that no handler of ours made, by status.
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 500: "internal_error"}


class ShapeEveryError:
    """The outermost middleware: an error answer that is not JSON gets the one error shape.

    Every error of ours is JSON already; this catches what middleware answers on its own, such as
    the CORS middleware refusing a preflight from another origin with a plain-text 400.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def shaping_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                # A web page's error (text/html: the console's and the public pages') is already in words.
                if message["status"] >= 400 and not content_type.startswith(("application/json", "text/html")):
                    held = message  # its body is replaced once it has been read
                    return
            elif message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await _send_shaped(send, held, b"".join(chunks).decode(errors="replace"))
                return
            await send(message)

        await self.app(scope, receive, shaping_send)


async def _send_shaped(send: Send, start: Message, text: str) -> None:
    status = start["status"]
    message = text.strip() or HTTPStatus(status).phrase
    body = json.dumps(_body(_HTTP_CODES.get(status, "http_error"), message)).encode()
    kept = [(name, value) for name, value in start.get("headers", [])
            if name.lower() not in (b"content-type", b"content-length")]
    headers = kept + [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install(app: FastAPI) -> None:
    app.add_middleware(ShapeEveryError)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        # Starlette still logs the error and re-raises it to the server; the caller gets the usual shape.
        return JSONResponse(_body("internal_error", "something went wrong on our side; it has been logged"),
                            status_code=500)

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(sqlalchemy.exc.InterfaceError)
    @app.exception_handler(sqlalchemy.exc.TimeoutError)
    async def _database_down(_: Request, error: Exception) -> JSONResponse:
        # The connection could not be made, or was lost: say so at once (a retry with the same key is safe).
        return JSONResponse(_body("database_unavailable", "the case database did not answer; "
                                  f"try again in {RETRY_AFTER_SECONDS} s"),
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(_body(error.code, error.message, error.fields), status_code=error.status,
                            headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        fields = [_problem(problem) for problem in error.errors()]
        return _invalid(fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == _UNREADABLE_BODY:
            # An unreadable body is an invalid one: the same 422 as any other bad body.
            return _invalid([FieldProblem(field="body", reason="not a JSON document in UTF-8")])
        code = _HTTP_CODES.get(error.status_code, "http_error")
        return JSONResponse(_body(code, str(error.detail)), status_code=error.status_code,
                            headers=getattr(error, "headers", None))
