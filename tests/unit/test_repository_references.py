"""Every file that policy.toml and the README point a reader to is in the repository, so a fresh clone has it."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A path with a folder and a file extension, as policy.toml's comments name the policy's text.
FILE_PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)+\.\w+")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE_THE_CLONE = re.compile(r"(?<![\w.])\.\./[\w./-]*")


def _missing(paths: list[str], folder: Path) -> list[str]:
    return [path for path in paths if not (folder / path).exists()]


def test_every_file_policy_toml_names_is_in_the_repository():
    named = FILE_PATH.findall((REPO / "policy.toml").read_text(encoding="utf-8"))

    assert "policy/policy-ar.txt" in named and "policy/policy-en.md" in named
    assert _missing(named, REPO) == []


def test_every_relative_link_of_the_readme_is_in_the_repository():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    relative = [link.split("#")[0] for link in MARKDOWN_LINK.findall(readme) if not re.match(r"\w+:|#", link)]

    assert "policy/policy-ar.txt" in relative
    assert _missing(relative, REPO) == []
    assert OUTSIDE_THE_CLONE.findall(readme) == []  # no clone has the folders beside it
