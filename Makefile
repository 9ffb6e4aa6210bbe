# Two commands matter: `make run` (all notebooks, headless, local backend by default)
# and `make test` (the test suite). Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
# Extra arguments for the runner, e.g. make run RUN_ARGS="-p num_workers=3"
RUN_ARGS ?=
# Extra arguments for pytest, e.g. make test PYTEST_ARGS="-k settings"
PYTEST_ARGS ?=
NBVAL_DIR := build/nbval

.PHONY: install run test lint lab bench clean clean-all hooks goldens cluster-build cluster-up cluster-down e2e

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m helpers.pipeline run $(RUN_ARGS)

# The notebooks run under nbval from copies with the fast parameters injected (nbval runs
# a notebook as it is), in a state folder of their own so a user's state is never touched.
test: install cluster-build
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	rm -rf $(NBVAL_DIR)
	$(BIN)/python -m helpers.pipeline prepare -f tests/fast-params.yaml \
		-p state_dir=$(CURDIR)/$(NBVAL_DIR)/state --output-dir $(NBVAL_DIR)
	# The notebooks leave their servers running, as a user wants; the tests stop them, pass or fail.
	# tests/e2e is the control plane tier's own run (`make e2e`), never collected here to be skipped.
	$(BIN)/python -m pytest tests $(NBVAL_DIR) --ignore=tests/e2e --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval-sanitize.cfg $(PYTEST_ARGS); \
	status=$$?; \
	$(BIN)/python -m helpers.cleanup --backend local --state-dir $(CURDIR)/$(NBVAL_DIR)/state > /dev/null; \
	exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Jupyter refuses to start as root unless told; as root (a container, a CI machine) say so explicitly.
lab: install
	$(BIN)/jupyter lab notebooks/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

bench: install
	$(BIN)/python bench/run_all.py

clean: install
	$(BIN)/python -m helpers.cleanup

clean-all: install
	$(BIN)/python -m helpers.cleanup --bucket --repository

# Strip notebook outputs on every commit in this clone.
hooks: install
	$(BIN)/nbstripout --install --attributes .gitattributes

# Rewrite tests/manifests/golden/ after a deliberate manifest change; review the diff.
goldens: install
	$(BIN)/python -m tests.manifests.regenerate

# A real Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager built
# from Go modules, a Kubeflow profile namespace); the contract tests start their own. Needs Go 1.26+.
cluster-build: install
	$(BIN)/python -m controlplane build

cluster-up: cluster-build
	$(BIN)/python -m controlplane up

cluster-down: install
	$(BIN)/python -m controlplane down

# The control plane tier: the kubeflow backend against a real API server and controller manager, the
# real training operator creating the pods and the node agent (helpers.local.node) running them, with
# AWS on a moto server shared by the notebook side and the pods. Each session starts its own cluster.
e2e: cluster-build
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)
