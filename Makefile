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

# The whole suite, on real parts: docker-registry, Chromium, and PostgreSQL and Redis on their
# usual local ports (installed with apt and started when missing). A case that cannot reach its
# server fails rather than skip; point the suite elsewhere with the two URLs below.
test: export TIGHTSHIP_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
test: export TIGHTSHIP_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
test: export TIGHTSHIP_REQUIRE_SERVICES ?= 1
test: export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = 1
test: install
	@bash .ci/system-deps --services
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
