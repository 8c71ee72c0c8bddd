# Tightship: `make run` starts it, `make test` passes the tests. Both work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: install run test demo lint format system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "'$(PYTHON) -m venv' failed: on Debian/Ubuntu install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# web + worker + clock on the embedded defaults (SQLite and a SQLite queue under ./var)
run: install
	$(BIN)/tightship serve

# Debian's docker-registry for the end-to-end tests (installed only when missing)
system-deps:
	@bash .ci/system-deps

test: install system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

demo: install system-deps
	$(BIN)/tightship demo

lint: install
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

format: install
	$(BIN)/ruff format app tests bench
	$(BIN)/ruff check --fix app tests bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
