# The README's two set-up commands: `make demo` and `make test`.  Each creates .venv and installs
# everything it needs on a fresh machine; nothing else is required.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?= -m "not slow"

.PHONY: demo test test-all bench lint install clean

install: $(STAMP)

# (PYTHONWARNINGS: setuptools warns on every editable install that a folder named like the
# package could shadow it)
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/codec demo

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ""

bench: $(STAMP)
	$(BIN)/python benchmarks/entropy.py

lint: $(STAMP)
	$(BIN)/ruff check omnicodec tests benchmarks fuzz

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
