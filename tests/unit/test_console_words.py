"""Every word the web pages show has its Arabic: a page never falls back to English in the Arabic console."""

import re
from pathlib import Path

from web.console.navigation import MENU, ROLE_NAMES
from web.i18n import arabic_words

WEB = Path(__file__).resolve().parents[2] / "web"
# _("…") and _('…') in templates and code, and the words(…)._(…) form; implicit concatenation of literals too.
LITERAL = re.compile(r"""_\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+|(?:'(?:[^'\\]|\\.)*'\s*)+)""")


def _literals() -> set[str]:
    found = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        for match in LITERAL.finditer(path.read_text()):
            parts = re.findall(r""""((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'""", match.group(1))
            found.add("".join(double or single for double, single in parts))
    return found


def test_every_word_of_the_pages_has_its_arabic():
    words = _literals() | {link.label for links in MENU.values() for link in links} | set(ROLE_NAMES.values())
    missing = sorted(word for word in words if word not in arabic_words())
    assert not missing, f"add these to a .po file in web/locale/ar/LC_MESSAGES: {missing}"


def test_the_check_finds_the_words_it_is_meant_to():
    assert {"Sign in", "Wrong login or password."} <= _literals()
