"""The `Idempotency-Key` header of the case actions (api.service.updates says what it makes safe)."""

from typing import Annotated

from fastapi import Header

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=200, pattern=r"^[\x21-\x7e]+$",
        description="Makes a retry safe: the same key and body get the first attempt's outcome, not a second step. "
                    "Without one, an answer that says the outcome is unknown gives the key to retry with.",
    ),
]
