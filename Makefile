# The two commands of the README: `make forecast` (set up, then the forecast report from the
# shipped observations) and `make test` (set up, then the whole test suite, slow tier included).
#
# PyMC 6 / ArviZ 1 need Python >= 3.12; on 3.11 pip silently installs PyMC 5 instead. So the
# virtual environment is made with an explicit 3.12 (or 3.13): from PATH, else from pyenv.
PYTHON ?= $(firstword $(shell command -v python3.12 python3.13 2>/dev/null) \
                      $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) \
                      $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13))
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: forecast test test-fast lint bench setup bytecode
forecast: bytecode
	$(VENV)/bin/gpt2030 update

# Our modules compiled ahead (~0.1 s when up to date): pip compiles the packages it installs
# but not an editable install's source folders, and where PYTHONDONTWRITEBYTECODE is set
# Python never caches them itself, compiling them anew in every command (~0.35 s of each).
bytecode: $(STAMP)
	@$(VENV)/bin/python -m compileall -q cli models observations inference reports > /dev/null

# Two worker processes (pytest-xdist); a test file's tests stay on one worker (loadfile),
# so a module's costly fixtures are built once. Plain `pytest` still runs in one process.
XDIST := -n 2 --dist loadfile

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(XDIST) --run-slow

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest $(XDIST)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: bytecode
	$(VENV)/bin/python benchmarks/bench_infer.py

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.12 or 3.13 not found (PyMC 6 needs >= 3.12); set PYTHON=/path/to/python3.12" >&2; exit 1; }
	@echo "setting up $(VENV) (Python: $(PYTHON)); pip's output goes to $(VENV)/install.log"
	@$(PYTHON) -m venv $(VENV)
	@{ $(VENV)/bin/python -m pip install --upgrade pip && \
	   $(VENV)/bin/python -m pip install -e ".[test,lint]"; } > $(VENV)/install.log 2>&1 || \
	 { tail -n 20 $(VENV)/install.log >&2; echo "error: installing failed; the whole log: $(VENV)/install.log" >&2; exit 1; }
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo "installed gpt2030 into $(VENV)"
