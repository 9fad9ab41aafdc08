"""CPU of one fresh import of the case workflow's modules, as the worker's sandbox does for every case it starts
or brings back into its cache. Rerun: `PYTHONDONTWRITEBYTECODE=1 .venv/bin/python bench/workflow_import.py`,
once after `find workflows domain -name __pycache__ -exec rm -rf {} +` and once after `make bytecode`.
"""

import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUNDS = 20
FRESH = ("workflows", "domain")


def fresh_import_seconds() -> float:
    started = time.process_time()
    for _ in range(ROUNDS):
        for name in [module for module in sys.modules if module.startswith(FRESH)]:
            del sys.modules[name]
        importlib.import_module("workflows.case")
    return (time.process_time() - started) / ROUNDS


if __name__ == "__main__":
    print(f"{fresh_import_seconds() * 1000:.1f} ms of CPU per fresh import of workflows.case")
