"""The store owns the queries: no module of api/, activities/, core/ or workflows/ builds or runs one itself.

They call the functions of store/ (one module per thing it keeps); the SQL and the table aliases live there.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CALLERS = ("api", "activities", "core", "workflows", "web")
# SQLAlchemy's statement builders, called as bare functions once imported (`select(...)`, `text("...")`).
BUILDERS = frozenset({"select", "insert", "update", "delete", "text"})
# Running a statement, or holding a session to run one: store/'s job.
RUNNERS = frozenset({"exec", "execute"})
SESSIONS = frozenset({"session", "transaction", "snapshot"})


def _sources() -> list[Path]:
    return sorted(path for folder in CALLERS for path in (ROOT / folder).rglob("*.py"))


def _queries(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"sqlalchemy", "sqlmodel"}:
            names = {alias.name for alias in node.names}
            if names & BUILDERS:
                found.append(f"line {node.lineno}: imports {', '.join(sorted(names & BUILDERS))} from {node.module}")
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Name) and function.id in BUILDERS:
            found.append(f"line {node.lineno}: {function.id}(")
        elif isinstance(function, ast.Attribute) and function.attr in RUNNERS:
            found.append(f"line {node.lineno}: .{function.attr}(")
        elif isinstance(function, ast.Attribute) and function.attr in SESSIONS and _is_database(function.value):
            found.append(f"line {node.lineno}: a database {function.attr}")
    tree = ast.parse(path.read_text())
    found += [f"line {node.lineno}: a table alias" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and node.attr == "__table__"]
    return found


def _is_database(value: ast.expr) -> bool:
    # `database.session()`, `self._database.transaction()`, `services.database.snapshot()`.
    name = value.attr if isinstance(value, ast.Attribute) else value.id if isinstance(value, ast.Name) else ""
    return name.lstrip("_") == "database"


def test_no_module_outside_the_store_builds_or_runs_a_query():
    offenders = {
        str(path.relative_to(ROOT)): queries for path in _sources() if (queries := _queries(path))
    }
    assert offenders == {}


def test_the_check_sees_a_query(tmp_path):
    # The check itself: a module that imports a builder, holds a session, builds and runs a statement.
    sample = tmp_path / "sample.py"
    sample.write_text("from sqlmodel import select\n"
                      "async def f(database, Model):\n"
                      "    async with database.session() as session:\n"
                      "        return await session.exec(select(Model))\n")
    assert len(_queries(sample)) == 4
