# Two commands matter: `make dev` runs the whole system, `make test` runs every test.
# Both need only Python 3.11 and make; everything else comes from PyPI into .venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install bytecode browser dev test test-fast bench chaos clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# The worker's sandbox imports the workflow modules afresh for every case it starts or brings back into its
# cache; without bytecode beside them (PYTHONDONTWRITEBYTECODE, an editable install) each import compiles them,
# and so does a stale .pyc after an edit: whatever starts a worker depends on this.
bytecode: | $(BIN)/activate
	$(BIN)/python -m compileall -q activities api core domain store workflows web worker.py

install: $(VENV)/.installed

# The browser tests drive the system's Chromium: Playwright's own browser download is not reachable everywhere.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium; }

dev: install bytecode
	$(BIN)/complaints dev

# The linter first: it takes a second, the suite minutes.
test: install browser bytecode
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The domain's unit tests alone: no servers, a few seconds.
test-fast: install
	$(BIN)/python -m pytest tests/unit

# The fault suite (bench/chaos.py): its own stack, every fault of issue 15, then a table of what survived
# (about 18 minutes on a shared 2-core machine). Its short version runs in `make test`
# (tests/chaos/test_chaos_short.py).
chaos: install bytecode
	$(BIN)/python bench/chaos.py

# How far it goes, beside bare Temporal and bare FastAPI on the same servers (about 20 minutes; ARGS=--quick: a few).
bench: install bytecode
	$(BIN)/python bench/suite.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
