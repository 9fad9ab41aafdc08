"""Temporal's remote codec protocol, so the Temporal UI can show decrypted payloads to staff who may see them.

`make dev` starts the UI with `--ui-codec-endpoint http://127.0.0.1:8000/v1/codec`. The caller is, in turn:
- an API key of a role that may decode, as `Authorization: Bearer <key>`;
- the identity provider's access token (a JWT), when the UI itself signs in with OpenID Connect and
  passes its access token: the role comes from its claims, as at the console's sign-in;
- the console's session cookie, when the UI's codec setting "include cross-origin credentials" is on:
  the UI (127.0.0.1:8233) and the API (127.0.0.1:8000) are the same site, so the SameSite=Lax
  cookie goes with the UI's calls, and the API's CORS answer allows credentials from the UI's origin.
Nothing is recorded per call, as before: the UI opens payloads by the dozen on every page it shows.
"""

import binascii
from typing import Annotated, Any

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.api.common.v1 import Payload, Payloads

from api import errors
from api.auth import Caller, find_caller
from api.deps import ServicesDep
from api.service.single_sign_on import caller_with_access_token
from api.service.staff import session_for
from domain.kinds import Role
from web.console.session import COOKIE

router = APIRouter(prefix="/v1/codec", tags=["codec"])

# Decoded payloads carry the submitter's identity: only those who may see every case's file.
MAY_DECODE = {Role.CS_AGENT, Role.AUDITOR}

_bearer = HTTPBearer(auto_error=False, description="An API key, or the identity provider's access token.")


async def codec_caller(request: Request, services: ServicesDep,
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    """An API key, else the identity provider's access token, else the console's session (see the module)."""
    database, settings = services.database, services.settings
    if credentials is not None and credentials.scheme.lower() == "bearer":
        caller = (await find_caller(database, credentials.credentials)
                  or await caller_with_access_token(database, settings, credentials.credentials))
    else:
        session = await session_for(database, settings, request.cookies.get(COOKIE))
        caller = session.caller if session else None
    if caller is None:
        raise errors.unauthorized()
    return caller


CodecCallerDep = Annotated[Caller, Depends(codec_caller)]


class CodecPayload(BaseModel):
    """One Temporal payload in protobuf's JSON form: bytes are base64."""

    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, str] = Field(default_factory=dict, description="Metadata values, each base64.")
    data: str = Field(default="", description="The payload's bytes, base64.")


# A JSON payload as the UI shows it once opened: encoding `json/plain`, data `"a secret"`.
_OPENED_EXAMPLE = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "ImEgc2VjcmV0Ig=="}]}
# The same payload sealed: encoding `binary/encrypted`, the id of the key, nonce and ciphertext.
_SEALED_EXAMPLE = {
    "payloads": [
        {
            "metadata": {"encoding": "YmluYXJ5L2VuY3J5cHRlZA==", "encryption-key-id": "a2V5MQ=="},
            "data": "3q2+7wAAAAAAAAAAlV9SZmYrQ3M0bUZzZmp2cWpKR3M=",
        }
    ]
}


class CodecPayloads(BaseModel):
    """Temporal's `Payloads` message in protobuf's JSON form, as the UI sends and reads it."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [_OPENED_EXAMPLE]})

    payloads: list[CodecPayload] = Field(default_factory=list)


def _body(example: dict) -> dict:
    """The request body, documented by hand: the route reads it itself, after checking the caller."""
    schema = {"$ref": "#/components/schemas/CodecPayloads"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema, "example": example}}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: errors.UNAUTHORIZED_RESPONSE,
    403: {"model": errors.ErrorResponse,
          "description": "Only customer service and auditors (keys, sessions, access tokens) use the codec."},
    422: {"model": errors.ErrorResponse,
          "description": "Not a `Payloads` document, or a payload that cannot be opened; `fields` says which."},
}


def _invalid(field: str, reason: str) -> errors.ApiError:
    return errors.ApiError(422, "validation_error", f"invalid request: {field}: {reason}",
                           [errors.FieldProblem(field=field, reason=reason)])


async def _payloads(request: Request) -> list[Payload]:
    try:
        document = CodecPayloads.model_validate_json(await request.body() or b"null")
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None
    try:
        return list(json_format.ParseDict(document.model_dump(), Payloads()).payloads)
    except json_format.ParseError as error:
        raise _invalid("payloads", f"not valid payloads: {error}") from None


def _answer(payloads: list[Payload]) -> CodecPayloads:
    return CodecPayloads.model_validate(json_format.MessageToDict(Payloads(payloads=payloads)))


@router.post(
    "/decode",
    response_model=CodecPayloads,
    responses={**ERRORS, 200: {"description": "The payloads, opened.",
                               "content": {"application/json": {"example": _OPENED_EXAMPLE}}}},
    openapi_extra=_body(_SEALED_EXAMPLE),
)
async def decode(request: Request, caller: CodecCallerDep, services: ServicesDep) -> CodecPayloads:
    """Open sealed payloads: `{"payloads": [{"metadata": {...}, "data": "<base64>"}]}` in, the same shape out."""
    if caller.role not in MAY_DECODE:
        raise errors.forbidden("only customer service and auditors may read decrypted payloads")
    codec = services.temporal.data_converter.payload_codec
    opened = []
    for index, payload in enumerate(await _payloads(request)):
        try:
            opened += await codec.decode([payload])
        except (InvalidTag, ValueError, UnicodeDecodeError, DecodeError, binascii.Error):
            # A payload sealed with a key this process lacks, tampered with, or not sealed by us at all.
            raise _invalid(f"payloads.{index}", "cannot be opened with the codec keys of this service") from None
    return _answer(opened)


@router.post(
    "/encode",
    response_model=CodecPayloads,
    responses={**ERRORS, 200: {"description": "The payloads, sealed with the active key.",
                               "content": {"application/json": {"example": _SEALED_EXAMPLE}}}},
    openapi_extra=_body(_OPENED_EXAMPLE),
)
async def encode(request: Request, caller: CodecCallerDep, services: ServicesDep) -> CodecPayloads:
    """Seal payloads (the UI uses this to send a signal or update with a typed-in body)."""
    if caller.role not in MAY_DECODE:
        raise errors.forbidden("only customer service and auditors may use the codec")
    payloads = await _payloads(request)
    return _answer(await services.temporal.data_converter.payload_codec.encode(payloads))
