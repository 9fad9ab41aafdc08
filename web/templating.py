"""The templates of the web pages, and what every page gets: the reader's words, the session's CSRF token,
and the asset URLs."""

from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.responses import Response

from web.i18n import Words

TEMPLATES = Jinja2Blocks(directory=Path(__file__).parent / "templates")
TEMPLATES.env.trim_blocks = True
TEMPLATES.env.lstrip_blocks = True


def page(request: Request, template: str, words: Words, *, status_code: int = 200, block: str | None = None,
         **context: Any) -> Response:
    """A whole page, or only `block` of it (what an htmx request swaps in)."""
    context |= {"words": words, "_": words._, "language": words.language, "direction": words.direction}
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code, block_name=block)


def wants_fragment(request: Request) -> bool:
    """An htmx request (not a boosted whole-page one) takes the part of the page it swaps."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"
