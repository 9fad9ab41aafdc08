"""Temporal's remote codec protocol, so the Temporal UI can show decrypted payloads to staff who may see them.

`make dev` starts the UI with `--ui-codec-endpoint http://127.0.0.1:8000/v1/codec`; in the UI's
codec settings, tick "pass access token" and sign in with a staff API key.
"""

from fastapi import APIRouter, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api import errors
from api.deps import CallerDep, ServicesDep
from domain.kinds import Role

router = APIRouter(prefix="/v1/codec", tags=["codec"])

# Decoded payloads carry the submitter's identity: only those who may see every case's file.
MAY_DECODE = {Role.CS_AGENT, Role.AUDITOR}


async def _payloads(request: Request) -> Payloads:
    try:
        return json_format.Parse(await request.body(), Payloads(), ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise errors.ApiError(422, "validation_error", f"not a Payloads document: {error}") from None


def _answer(payloads: list) -> dict:
    return json_format.MessageToDict(Payloads(payloads=payloads))


@router.post("/decode", responses={401: {"model": errors.ErrorResponse}, 403: {"model": errors.ErrorResponse}})
async def decode(request: Request, caller: CallerDep, services: ServicesDep) -> dict:
    """Open sealed payloads: `{"payloads": [{"metadata": {...}, "data": "<base64>"}]}` in, the same shape out."""
    if caller.role not in MAY_DECODE:
        raise errors.forbidden("only customer-service and audit keys may read decrypted payloads")
    payloads = await _payloads(request)
    return _answer(await services.temporal.data_converter.payload_codec.decode(payloads.payloads))


@router.post("/encode", responses={401: {"model": errors.ErrorResponse}, 403: {"model": errors.ErrorResponse}})
async def encode(request: Request, caller: CallerDep, services: ServicesDep) -> dict:
    """Seal payloads (the UI uses this to send a signal or update with a typed-in body)."""
    if caller.role not in MAY_DECODE:
        raise errors.forbidden("only customer-service and audit keys may use the codec")
    payloads = await _payloads(request)
    return _answer(await services.temporal.data_converter.payload_codec.encode(payloads.payloads))
