# Every target bootstraps .venv itself: `make test` on a fresh clone just works.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The demo binds here; override with `make demo PORT=9000`.
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install demo serve test check bench migrate docs lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/routeboard demo --host $(HOST) --port $(PORT)

serve: $(STAMP)
	$(BIN)/routeboard serve --host $(HOST) --port $(PORT)

migrate: $(STAMP)
	$(BIN)/routeboard migrate

test: $(STAMP)
	$(BIN)/pytest -q

check: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scheduling.py
	$(BIN)/python bench/stream.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/notify.py
	$(BIN)/python bench/signin_flood.py

docs: $(STAMP)
	$(BIN)/routeboard docs

# Re-resolve the newest allowed versions into the lock file.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet -e '.[dev]'
	(echo '# Pinned versions of every runtime and development dependency. Regenerate with `make lock`.'; \
	 .lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^routeboard') > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
