# Every target builds the pinned virtual environment first; nothing is done by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# JAX is the fastest Keras backend measured on these CPUs; KERAS_BACKEND=tensorflow works too.
export KERAS_BACKEND ?= jax
# Datasets: the local mirror beside the checkout when there is one, else the canonical downloads.
export KINGDRA_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export PYTHONPATH := $(CURDIR)

.PHONY: help test demo
.DEFAULT_GOAL := help
help:  ## list the targets (this)
	@echo "make TARGET, where TARGET is one of:"
	@awk -F ':.*## ' '/^[a-z0-9]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "The table's knobs: PROFILE, DATASETS, SEEDS, METHODS, RUNS=fresh, CLUSTER=ray (see the Makefile)."

$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

test: $(VENV)/installed  ## run the tests (the CI's command)
	$(BIN)/python -m pytest -q tests

demo: $(VENV)/installed  ## Kingdra on scikit-learn's digits, a reduced run (a few minutes)
	$(BIN)/python -m kingdra.demo

.PHONY: data
# Builds and caches every dataset matrix the tables need, then lists what is missing and why.
# CNN features run under TensorFlow: its CPU convolutions were measured ~8x faster than JAX's here.
data: $(VENV)/installed  ## build and cache the datasets' matrices, list what is missing
	KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m kingdra.datasets

.PHONY: table1
# The paper's main table from real runs. Defaults: the reduced cpu profile, every table dataset whose
# data is here, 3 seeds. Existing run files are reused, so an interrupted `make table1` resumes.
# The full protocol: make table1 PROFILE=paper DATASETS=mnist SEEDS=5. `make data` builds the features first.
# The longer MNIST pair (about 4 h here): make table1 PROFILE=cpu-long DATASETS=mnist METHODS="kingdra-ladder-im ladder-im-ensemble ladder-im" SEEDS=1
# On a Ray cluster, one task per run: make table1 CLUSTER=ray (joins $$RAY_ADDRESS, e.g. auto, else starts
# a local cluster); RAY_ARGS passes more, e.g. RAY_ARGS="--cpus-per-task 8 --checkpoint-root /shared/ckpt".
PROFILE ?= cpu
DATASETS ?= present
SEEDS ?= 3
METHODS ?= all
CLUSTER ?=
RAY_ARGS ?=
# Where run files go and the table is written: the committed results/runs/ and results/ by default.
# RUNS=fresh recomputes every run from scratch into results/fresh/ (ignored by git), leaving the
# committed runs untouched; an interrupted fresh run resumes there. RUNS_DIR=dir OUT_DIR=dir for others.
ifeq ($(RUNS),fresh)
RUNS_DIR ?= results/fresh/runs
OUT_DIR ?= results/fresh
endif
RUNS_DIR ?= results/runs
OUT_DIR ?= results
table1: $(VENV)/installed  ## the main table: run what is missing, render results/table1.md
	$(BIN)/python -m replicate.run --dataset $(DATASETS) --method $(METHODS) --profile $(PROFILE) --seed $$(seq 0 $$(($(SEEDS) - 1))) --runs-dir $(RUNS_DIR) $(if $(filter ray,$(CLUSTER)),--ray $(RAY_ARGS),)
	$(BIN)/python -m replicate.table --runs-dir $(RUNS_DIR) --out-dir $(OUT_DIR)

.PHONY: figures notebooks
# Our figures (the paper has none of them), rebuilt from results/runs/ (run `make table1` first): figures/*.png.
figures: $(VENV)/installed  ## the figures from the run files -> figures/
	$(BIN)/python -m replicate.figures --runs-dir $(RUNS_DIR) $(if $(filter fresh,$(RUNS)),--out-dir $(OUT_DIR)/figures,)

# Re-executes both notebooks in place, so the committed copies carry real outputs (a few minutes).
notebooks: $(VENV)/installed  ## re-execute the notebooks in place
	$(BIN)/python -m replicate.notebooks

.PHONY: bench
# How fast this machine runs Kingdra: training (1 and 10 members, sequential and vectorized, with
# pseudo-labels, every Keras backend) against the matmul peak, mini-clusters, prediction, and the
# projected MNIST protocol -> results/bench.json. `python -m replicate.benchmarks.speed --help` lists the sizes.
bench: $(VENV)/installed  ## measure training and prediction speed -> results/bench.json
	$(BIN)/python -m replicate.benchmarks.speed
