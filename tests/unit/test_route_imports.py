"""No route module imports another route module: what two fronts share lives in the application layer."""

import ast
from pathlib import Path

ROUTES = Path(__file__).resolve().parents[2] / "api" / "routes"


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            if node.module == "api.routes":
                modules |= {f"api.routes.{alias.name}" for alias in node.names}
    return modules


def test_no_route_module_imports_another():
    imports = {
        path.name: sorted(module for module in _imported_modules(path) if module.startswith("api.routes"))
        for path in sorted(ROUTES.glob("*.py"))
    }
    assert {name: modules for name, modules in imports.items() if modules} == {}
