"""What pyproject.toml ships: an installed package (the image) has every file the code reads beside its modules."""

import fnmatch
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
# Files that are not modules but are read at run time from beside the code.
READ_AT_RUN_TIME = ["store/migrations/env.py", "store/migrations/script.py.mako", "store/migrations/versions/*.py",
                    "templates/messages/*/*.txt"]


def _shipped(path: str) -> bool:
    package, _, rest = path.partition("/")
    included = any(fnmatch.fnmatch(package, pattern) for pattern in SETUPTOOLS["packages"]["find"]["include"])
    patterns = SETUPTOOLS["package-data"].get(package, [])
    return included and any(fnmatch.fnmatch(rest, pattern) for pattern in patterns)


def test_every_package_data_pattern_names_files_that_exist():
    for package, patterns in SETUPTOOLS["package-data"].items():
        for pattern in patterns:
            assert list((REPO / package).glob(pattern)), (
                f"pyproject.toml ships {package}/{pattern}, which matches nothing")


def test_every_file_read_at_run_time_is_shipped():
    for pattern in READ_AT_RUN_TIME:
        files = [str(path.relative_to(REPO)) for path in REPO.glob(pattern)]
        assert files, pattern
        assert [path for path in files if not _shipped(path)] == []
