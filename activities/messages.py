"""Messages for people, rendered from the Jinja2 templates in templates/messages (Arabic by default)."""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
)

SHIPPED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "messages"
LANGUAGES = ("ar", "en")
MUSCAT = ZoneInfo("Asia/Muscat")

_KIND_NAMES = {
    "ar": {"complaint": "الشكوى", "report": "البلاغ", "suggestion": "المقترح"},
    "en": {"complaint": "complaint", "report": "report", "suggestion": "suggestion"},
}
_MUSCAT_SUFFIX = {"ar": "بتوقيت مسقط", "en": "Muscat time"}
# How a submitter follows the case: on the public tracking page (`tracking_url`, written under the reference in
# templates/messages/*/_base.txt), with the reference and the code; a message never carries the code.
_FOLLOW_CASE = {
    "ar": "في صفحة المتابعة (الرابط أدناه)، برقم المرجع ورمز المتابعة الذي حصلتم عليه عند التقديم",
    "en": "on the tracking page (the link below), with the reference and the tracking code you were given when you "
          "submitted",
}
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def tracking_url(public_url: str) -> str:
    """The public tracking page (web/public/track.py) under the site's base URL (COMPLAINTS_PUBLIC_URL)."""
    return public_url.rstrip("/") + "/track"
# First strong isolate ... pop directional isolate: staff-written text keeps its own direction and cannot
# turn the letter around it (UAX #9); activities/transports.py turns the pair into <bdi> in the HTML part.
ISOLATE_START, ISOLATE_END = "\u2068", "\u2069"
# Embeddings, overrides, isolates and marks that staff text might carry; the isolate replaces them.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    sms: str
    language: str


class MessageRenderer:
    """Renders a message's subject, body and SMS text in a language; the ministry's own folder wins over ours."""

    def __init__(self, override_dir: Path | None = None, public_url: str = DEFAULT_PUBLIC_URL) -> None:
        folders = [str(override_dir)] if override_dir else []
        loader = FileSystemLoader([*folders, str(SHIPPED_TEMPLATES)])
        # One environment per language, because the filters speak the template's language.
        self._environments = {language: self._environment(loader, language, tracking_url(public_url))
                              for language in LANGUAGES}

    @staticmethod
    def _environment(loader: FileSystemLoader, language: str, tracking_page: str) -> Environment:
        environment = Environment(
            loader=loader,
            undefined=StrictUndefined,  # a misspelt name fails loudly instead of leaving a gap in a letter
            autoescape=False,  # plain text; the HTML part is escaped when it is built
        )
        environment.filters["muscat"] = lambda value: muscat_time(value, language)
        environment.filters["kind_name"] = lambda kind: _KIND_NAMES[language].get(kind, kind)
        environment.filters["isolate"] = isolate
        environment.globals["follow_case"] = _FOLLOW_CASE[language]
        environment.globals["tracking_url"] = tracking_page
        return environment

    def render(self, template: str, language: str, context: dict) -> RenderedMessage:
        language = language if language in LANGUAGES else LANGUAGES[0]
        try:
            loaded = self._environments[language].get_template(f"{language}/{template}.txt")
        except TemplateNotFound:
            raise LookupError(f"no message template {language}/{template}.txt") from None
        return RenderedMessage(
            subject=" ".join(_block(loaded, "subject", context).split()),
            # The body is the whole template: the layout's letter with this message's content in it.
            body=loaded.render(context).strip() + "\n",
            sms=" ".join(_block(loaded, "sms", context).split()),
            language=language,
        )


def _block(loaded: Template, name: str, context: dict) -> str:
    """One block of the message itself (its subject or SMS text), rendered on its own."""
    if name not in loaded.blocks:
        raise LookupError(f"message template {loaded.name} has no block {name!r}")
    return "".join(loaded.blocks[name](loaded.new_context(dict(context))))


def muscat_time(value: str | datetime, language: str) -> str:
    """An instant as a person in Oman reads it: date and time in Muscat, with the zone named."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = instant.astimezone(MUSCAT)
    return f"{local:%Y-%m-%d %H:%M} {_MUSCAT_SUFFIX.get(language, _MUSCAT_SUFFIX['en'])}"


def isolate(text: str) -> str:
    """Staff-written text as isolated runs, one a paragraph (as the HTML part splits it), its own controls removed."""
    paragraphs = str(text).translate(_BIDI_CONTROLS).split("\n\n")
    return "\n\n".join(f"{ISOLATE_START}{paragraph}{ISOLATE_END}" for paragraph in paragraphs)
