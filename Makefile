# adgate: `make run` serves the whole service, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PORT ?= 5000
PO := $(wildcard app/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

.PHONY: run test pytest lint bench soak drill translations translations-extract clean lock audit-deps sbom

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs exactly the locked versions (requirements.txt: the service; requirements-dev.txt:
# the service and the dev extras), each file checked against its hash, pip and setuptools
# included; then adgate itself, built with the locked setuptools, without dependencies.
$(VENV)/.deps-run: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.deps-dev: requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.deps-run

# The lock files from pyproject.toml's ranges, with pip and the build requirements. uv's
# universal resolution: one file for Python 3.11 and newer on every platform (a marker where
# a version differs). Versions already locked are kept; LOCK_ARGS=--upgrade (or
# --upgrade-package NAME) raises them. The dev lock is held to the runtime lock's versions.
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
  --custom-compile-command "make lock" $(LOCK_ARGS)
PIP_AND_BUILD = $(BIN)/python -c 'import tomllib; \
  print("pip", *tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'
lock: $(VENV)/.deps-dev
	$(PIP_AND_BUILD) | $(UV_COMPILE) pyproject.toml - -o requirements.txt
	$(PIP_AND_BUILD) | $(UV_COMPILE) pyproject.toml - --extra dev -c requirements.txt -o requirements-dev.txt
	$(MAKE) sbom

# The runtime lock as a CycloneDX bill of materials; the same lock gives the same file.
sbom: $(VENV)/.deps-dev
	$(BIN)/cyclonedx-py requirements requirements.txt --pyproject pyproject.toml \
	  --mc-type application --output-format JSON --output-reproducible --output-file docs/sbom.cdx.json

# The locked versions against published advisories (PyPI's; AUDIT_ARGS="--vulnerability-service
# osv" for OSV's). Needs the advisory service: fails within a minute, saying so, without it.
AUDIT_ARGS ?=
audit-deps: $(VENV)/.deps-dev
	$(BIN)/python -m tools.audit_deps requirements.txt requirements-dev.txt $(AUDIT_ARGS)

%.mo: %.po | $(VENV)/.deps-run
	$(BIN)/pybabel compile --statistics -i $< -o $@

# Every language's compiled messages (German, French, Italian); English is the source.
translations: $(MO)

# Served on loopback over plain HTTP, so the session cookie cannot be Secure here;
# behind a TLS proxy (docs in README.md) the default, Secure, applies. Mails go to a local
# sink on loopback (flask mail-sink), which writes each to instance/mail/ and prints a line.
MAIL_SINK_PORT ?= 8025
run: $(VENV)/.deps-run $(MO)
	$(FLASK) db upgrade
	$(FLASK) users demo
	$(FLASK) ad-accounts add act_1001 --page 2001 --name "Stadt Musterstadt" --currency CHF --exist-ok
	$(FLASK) ad-accounts add act_1002 --page 2002 --name "Gemeinde Beispielhausen" --currency CHF --exist-ok
	$(FLASK) ad-accounts authorize act_1001 --country CH --country LI --disclaimer "Stadt Musterstadt" \
	  --evidence "the Meta sandbox's account act_1001 (docs/meta.md)"
	ADGATE_SESSION_COOKIE_SECURE=false ADGATE_PUBLIC_URL=http://127.0.0.1:$(PORT) \
	  ADGATE_MAIL_SERVER=127.0.0.1 ADGATE_MAIL_PORT=$(MAIL_SINK_PORT) ADGATE_MAIL_SINK=true \
	  $(FLASK) stack --port $(PORT)

test: pytest lint

pytest: $(VENV)/.deps-dev $(MO)
	$(BIN)/pytest

lint: $(VENV)/.deps-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Figures, not pass/fail: SQLite, then PostgreSQL (PG_URL; a schema of its own, dropped after).
# Needs wrk and GNU time from Debian's packages (installed when missing). Tables and JSON in
# bench/results/; docs/performance.md explains them.
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/adgate_bench
BENCH_ARGS ?=
bench: $(VENV)/.deps-dev $(MO)
	@command -v wrk >/dev/null && test -x /usr/bin/time || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk time >/dev/null)
	$(BIN)/python bench/run.py --pg-url $(PG_URL) $(BENCH_ARGS)

# Load and faults on loopback, bounded in time; exits non-zero when an end check fails.
SOAK_ARGS ?=
soak: $(VENV)/.deps-dev $(MO)
	$(BIN)/python bench/soak.py --database-url sqlite $(SOAK_ARGS)
	$(BIN)/python bench/soak.py --database-url $(PG_URL) $(SOAK_ARGS)

# docs/deploy.md's installation on this machine, then operated and checked (tools/drill/run.py):
# as root, loopback only, a PostgreSQL database and roles of its own, at most DRILL_TIMEOUT
# seconds; prints a table of steps and exits non-zero when one failed. Removes what it made.
DRILL_TIMEOUT ?= 600
drill: $(VENV)/.deps-dev $(MO)
	$(BIN)/python -m tools.drill --timeout $(DRILL_TIMEOUT)

translations-extract: $(VENV)/.deps-dev
	$(BIN)/pybabel extract --no-location --sort-by-file -F babel.cfg -k _l -o app/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching -i app/translations/messages.pot -d app/translations

clean:
	rm -rf $(VENV) $(MO) .pytest_cache .mypy_cache .ruff_cache
