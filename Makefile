# ChannelGuard — the commands a new user needs. Each target bootstraps .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export APP_ENV ?= development

.PHONY: run test test-fast lint format bench bench-% screenshots clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app demo-data --if-empty
	@mkdir -p instance
	@echo "Serving ChannelGuard on http://127.0.0.1:5000 (scheduler in-process; Ctrl-C to stop)"
	@echo "Without SMTP_HOST set, e-mail goes to a local catcher and is written to instance/mail.log"
	@if [ -z "$$SMTP_HOST" ]; then \
	  $(BIN)/python -m aiosmtpd -n -l 127.0.0.1:8025 -c aiosmtpd.handlers.Debugging \
	    >> instance/mail.log 2>&1 & catcher=$$!; \
	  trap 'kill $$catcher 2>/dev/null' EXIT INT TERM; \
	  export SMTP_HOST=127.0.0.1 SMTP_PORT=8025; \
	fi; \
	SCHEDULER_ENABLED=1 $(BIN)/flask --app app run --host 127.0.0.1 --port 5000 --no-reload --with-threads

test: $(STAMP)
	APP_ENV=testing $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	APP_ENV=testing $(BIN)/python -m pytest -q -m "not slow and not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

bench-%: $(STAMP)
	$(BIN)/python -m bench $*

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache instance

screenshots: $(STAMP)
	APP_ENV=testing SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/e2e
