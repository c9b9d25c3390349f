# dplrepro: two commands on a fresh machine.
#   make book   create/update .venv, run every chapter (quick profile; JOBS=N at once, default 2), build the HTML book
#   make test   same environment, run the whole test suite
# Data come from $DPLREPRO_DATA (default: the project's data/); with no real data the
# chapters fall back to the embedded synthetic twin and say so.

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= quick
JOBS    ?=
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.dplrepro-installed

.PHONY: install book test chapter bench clean

install: $(STAMP)

# torch is pinned to 2.13.0 (pip finds the CPU wheel on a CPU machine; a GPU user gets CUDA).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[book,dev]"
	@touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/dplrepro book --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS))

# pytest exit code 5 (no tests collected) is a failure, never a pass. TEST_JOBS pytest-xdist
# workers (default 2 on a machine with 2+ cores), each test file whole on one worker, one torch
# thread each (tests/conftest.py); TEST_JOBS=0 runs everything in this process.
TEST_JOBS ?= $(shell $(PYTHON) -c "import os; print(2 if (os.cpu_count() or 1) >= 2 else 0)")
test: $(STAMP)
	@$(PY) -m pytest $(if $(filter-out 0,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests -- failing"; exit 1; fi; \
	exit $$rc

# make chapter NAME=data_tour [PROFILE=full]
chapter: $(STAMP)
	$(VENV)/bin/dplrepro run $(NAME) --profile $(PROFILE)

# on-demand benchmarks (never in CI): records in benchmarks/results/, shown on the Performance page
bench: $(STAMP)
	$(PY) -m benchmarks.bench_hbv
	$(PY) -m benchmarks.bench_sceua
	$(PY) -m benchmarks.bench_training --epochs-to-target --iterations 5
	$(PY) -m benchmarks.bench_book

clean:
	rm -rf _build
