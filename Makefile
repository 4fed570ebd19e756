# Explorer for JupyterLab: set up, run and test on a fresh Debian machine.
#   make venv   .venv with the project installed editable (+ test extra); builds the labextension
#   make lab    JupyterLab on http://127.0.0.1:$(PORT) with the embedded local backends (installs
#               only what running needs: no test extra)
#   make cluster  a one-node Slurm + SeaweedFS on this machine, and JupyterLab using them (compute=slurm)
#   make test   pytest (+ jest when ui/src/__tests__ exists)
#   make lint   ruff
#   make clean  remove everything the targets above made

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
PORT ?= 8888
PYTEST_ARGS ?=
VENV := .venv
BIN := $(VENV)/bin
# the project + its test extra (make venv, make test) / the project alone (make lab)
STAMP := $(VENV)/.stamp-install
RUN_STAMP := $(VENV)/.stamp-run

ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
SUDO := $(if $(ROOT),,sudo)
ALLOW_ROOT := $(if $(ROOT),--allow-root,)

# Everything that changes what `pip install -e` produces (Python metadata, JS build inputs).
JS_INPUTS := package.json .yarnrc.yml tsconfig.json $(wildcard yarn.lock)
INSTALL_INPUTS := pyproject.toml install.json $(wildcard jupyter-config/server-config/*.json) \
	$(JS_INPUTS) $(shell find ui -type f -not -path '*/__tests__/*' 2>/dev/null)

# $(call apt_ensure,BIN:PKG ...): apt-get install the packages whose binary is missing,
# with a single `apt-get update` first; does nothing when every binary is there.
define apt_ensure
	@missing=""; \
	for pair in $(1); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

.PHONY: help venv lab cluster test lint clean

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

# $(call install,EXTRAS): the venv, then the project editable with EXTRAS ("" or "[test]").
define install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# hatch-jupyter-builder rebuilds an editable install only when ui/ is newer than
	@# labextension/; a change to the JS toolchain files must force the rebuild too.
	@if [ -f labextension/package.json ] && \
	   [ -n "$$(find $(JS_INPUTS) -newer labextension/package.json)" ]; then \
	  rm -rf labextension; \
	fi
	$(BIN)/python -m pip install -e ".$(1)"
endef

venv: $(STAMP)

$(STAMP): $(INSTALL_INPUTS)
	$(call install,[test])
	touch $@ $(RUN_STAMP)

$(RUN_STAMP): $(INSTALL_INPUTS)
	$(call install,)
	touch $@

lab: $(RUN_STAMP)
	$(call apt_ensure,samtools:samtools bcftools:bcftools tabix:tabix)
	exec $(BIN)/jupyter-lab $(ALLOW_ROOT) --no-browser --ip=127.0.0.1 --port=$(PORT) \
	  --ServerApp.root_dir="$(CURDIR)/examples"

cluster: venv
	$(call apt_ensure,samtools:samtools slurmctld:slurm-wlm munged:munge)
	exec $(BIN)/python -m devcluster.cluster --port=$(PORT) --dir="$(CURDIR)/.cluster" --root-dir="$(CURDIR)/examples"

test: venv
	$(call apt_ensure,chromium:chromium samtools:samtools bcftools:bcftools tabix:tabix slurmctld:slurm-wlm munged:munge slurmdbd:slurmdbd mariadbd:mariadb-server ip:iproute2)
	$(BIN)/pytest -p no:cacheprovider tests $(PYTEST_ARGS)
	@if [ -n "$$(find ui/src -path '*/__tests__/*' -name '*.spec.ts*' 2>/dev/null)" ]; then \
	  PATH="$(CURDIR)/$(BIN):$$PATH" jlpm test; \
	else \
	  echo "jest: no tests under ui/src/__tests__, skipped"; \
	fi

lint: venv
	$(BIN)/ruff check .
	PATH="$(CURDIR)/$(BIN):$$PATH" jlpm lint:check

# the linters run first in `make test`, so a CI that runs it fails when they fail
test: lint

clean:
	rm -rf $(VENV) node_modules labextension lib tsconfig.tsbuildinfo dist test-artifacts .cluster \
	  .stamp* .pytest_cache .ruff_cache .mypy_cache *.egg-info .yarn/install-state.gz
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +

# Python habits beside `ruff check` (the lint recipe above also runs the UI's eslint/prettier):
# formatting and types, config in pyproject.toml. `make test` runs lint first.
.PHONY: lint-python
lint: lint-python
lint-python: venv
	$(BIN)/ruff format --check .
	$(BIN)/mypy
