"""Words, dates and numbers in the reader's language: Arabic (the default) or English.

The English words are the message ids in the templates (`_("Sign in")`); their Arabic lives in
web/locale/ar/LC_MESSAGES/*.po, one file per part of the site, read with Babel at start (no
compile step). Dates are shown in Asia/Muscat with Babel's month names; tests check that every
word a template uses has its Arabic.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALE_FOLDER = Path(__file__).parent / "locale"
MUSCAT = ZoneInfo("Asia/Muscat")
DIRECTION = {"ar": "rtl", "en": "ltr"}
# Babel writes Latin digits unless told the numbering system: "arab" is the Arabic-Indic one (٠١٢٣٤٥٦٧٨٩).
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@cache
def arabic_words() -> dict[str, str]:
    """Every English message id with its Arabic, from all the .po files."""
    words: dict[str, str] = {}
    for path in sorted((LOCALE_FOLDER / "ar" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as file:
            for message in read_po(file, locale="ar"):
                if message.id and message.string:
                    words[str(message.id)] = str(message.string)
    return words


@dataclass(frozen=True)
class Words:
    """A reader's language: `_` translates, `when` writes an instant, `number` a count."""

    language: str
    # "latn" (0-9) or "arab" (Arabic-Indic, in Arabic only): the ministry's choice (COMPLAINTS_ARABIC_DIGITS).
    digits: str = "latn"

    @property
    def direction(self) -> str:
        return DIRECTION[self.language]

    def _(self, text: str, **values: object) -> str:
        """The Arabic of `text` (itself in English); `{name}` placeholders filled from `values`."""
        words = arabic_words().get(text, text) if self.language == "ar" else text
        return words.format(**values) if values else words

    def when(self, instant: datetime | None, pattern: str = "d MMMM y، HH:mm") -> str:
        """An instant as people in Oman read it: Muscat time, Arabic month names in Arabic."""
        if instant is None:
            return ""
        if self.language == "en":
            pattern = pattern.replace("،", ",")
        return self._in_digits(format_datetime(instant, pattern, tzinfo=MUSCAT, locale=self.language))

    def day(self, instant: datetime | None) -> str:
        return self.when(instant, "d MMMM y")

    def number(self, value: int | float) -> str:
        return self._in_digits(format_decimal(value, locale=self.language, numbering_system=self._numbering))

    @property
    def _numbering(self) -> str:
        return "arab" if self.digits == "arab" and self.language == "ar" else "latn"

    def _in_digits(self, text: str) -> str:
        return text.translate(ARABIC_INDIC) if self._numbering == "arab" else text


def words_for(language: str | None, *, arabic_digits: bool = False) -> Words:
    return Words(language if language in DIRECTION else "ar", "arab" if arabic_digits else "latn")
