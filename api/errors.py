"""The one place where domain, validation and Temporal errors become HTTP errors.

Every error body has the same shape:
    {"error": {"code": "...", "message": "...", "fields": [{"field": "a.b", "reason": "..."}]}}
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode


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


def from_rpc_error(error: RPCError, reference: str) -> ApiError:
    if error.status == RPCStatusCode.NOT_FOUND:
        # A finished workflow answers NOT_FOUND to updates too; the caller learns the case is closed.
        if "completed" in error.message or "closed" in error.message:
            return ApiError(409, "case_closed", f"case {reference} is closed; no further action is possible")
        return not_found(reference)
    return ApiError(503, "temporal_unavailable", "the case engine did not answer; try again")


def _location(loc: tuple) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _body(code: str, message: str, fields: list[FieldProblem] | None = None) -> dict:
    return ErrorResponse(error=ErrorBody(code=code, message=message, fields=fields or [])).model_dump()


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(_body(error.code, error.message, error.fields), status_code=error.status,
                            headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        fields = [FieldProblem(field=_location(problem["loc"]), reason=problem["msg"]) for problem in error.errors()]
        message = "invalid request: " + "; ".join(f"{f.field}: {f.reason}" for f in fields)
        return JSONResponse(_body("validation_error", message, fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return JSONResponse(_body(code, str(error.detail)), status_code=error.status_code,
                            headers=getattr(error, "headers", None))
