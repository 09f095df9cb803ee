# make demo | make test | make lint | make bench — each bootstraps .venv itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

system-deps:
	./scripts/install-system-deps.sh

# the demo company has planted violations: exit 1 (findings) is the expected outcome
demo: $(STAMP)
	$(BIN)/ledgerguard demo --out out || [ $$? -eq 1 ]

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest
	$(BIN)/ledgerguard test policies/

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) system-deps
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench --ldap 100000

clean:
	rm -rf $(VENV) out .pytest_cache
