# mailops.exchange — the two commands: `make demo` (site.yml against the lab) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
COLLECTION_LINK := .collections/ansible_collections/mailops/exchange
PYTEST_ARGS ?=

.PHONY: test unit lab-tests integration demo bench molecule check matrix integration-targets venv system-deps clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed $(COLLECTION_LINK)

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

system-deps:
	./hack/system-deps.sh

test: venv system-deps
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -n 2 $(PYTEST_ARGS)
	./hack/molecule.sh

# The molecule scenarios alone (Exchange 2019, 2016 with two servers, 2013): create, converge, idempotence, verify.
molecule: venv system-deps
	./hack/molecule.sh

unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lab-tests: venv
	$(PY) -m pytest tests/lab/tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .collections .lab .pytest_cache

demo: venv system-deps
	./hack/demo.sh

# The performance benchmark (issue 6): site.yml on 1, 5 and 20 servers against the per-cmdlet baseline, under the
# lab's latency model; BENCH_ARGS="--readme README.md" refreshes the README's performance section.
BENCH_ARGS ?=
bench: venv system-deps
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) tests/bench/run.py $(BENCH_ARGS)

# Collection quality (issue 5): ansible-test sanity and units on the built tarball, ansible-lint (production),
# galaxy build + install + ansible-doc, antsibull docs and changelog lint, ansible-builder context, and the
# installed tarball's site playbook against a lab. Uses its own venv (.venv-check).
check: system-deps
	./hack/check.sh

# The ansible-test integration targets (tests/integration/targets) against a fresh lab, on the check's venv.
integration-targets: system-deps
	CHECK_STEPS="build integration" ./hack/check.sh

# The support matrix (issue 14): tox-ansible over every ansible-core minor from 2.17 to the newest, on Python 3.12;
# MATRIX_ENVS chooses the environments (hack/matrix.sh).
matrix: system-deps
	CHECK_STEPS="build matrix" CHECK_MATRIX_ENVS="$(MATRIX_ENVS)" ./hack/check.sh
