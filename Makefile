# Every target builds the pinned virtual environment first; nothing is done by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# JAX is the fastest Keras backend measured on these CPUs; KERAS_BACKEND=tensorflow works too.
export KERAS_BACKEND ?= jax
# Datasets: the local mirror beside the checkout when there is one, else the canonical downloads.
export KINGDRA_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export PYTHONPATH := $(CURDIR)

.PHONY: test demo
$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

test: $(VENV)/installed
	$(BIN)/python -m pytest -q tests

demo: $(VENV)/installed
	$(BIN)/python -m kingdra.demo

.PHONY: data
# Builds and caches every dataset matrix the tables need, then lists what is missing and why.
# CNN features run under TensorFlow: its CPU convolutions were measured ~8x faster than JAX's here.
data: $(VENV)/installed
	KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m kingdra.datasets

.PHONY: table1
# The paper's main table from real runs. Defaults: the reduced cpu profile, every table dataset whose
# data is here, 3 seeds. Existing run files are reused, so an interrupted `make table1` resumes.
# The full protocol: make table1 PROFILE=paper DATASETS=mnist SEEDS=5. `make data` builds the features first.
# One longer MNIST run (about 2 h here): make table1 PROFILE=cpu-long DATASETS=mnist METHODS="kingdra-ladder-im ladder-im" SEEDS=1
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
table1: $(VENV)/installed
	$(BIN)/python -m replicate.run --dataset $(DATASETS) --method $(METHODS) --profile $(PROFILE) --seed $$(seq 0 $$(($(SEEDS) - 1))) --runs-dir $(RUNS_DIR) $(if $(filter ray,$(CLUSTER)),--ray $(RAY_ARGS),)
	$(BIN)/python -m replicate.table --runs-dir $(RUNS_DIR) --out-dir $(OUT_DIR)

.PHONY: figures notebooks
# The paper's figures, rebuilt from results/runs/ (run `make table1` first): figures/*.png (top level).
figures: $(VENV)/installed
	$(BIN)/python -m replicate.figures --runs-dir $(RUNS_DIR) $(if $(filter fresh,$(RUNS)),--out-dir $(OUT_DIR)/figures,)

# Re-executes both notebooks in place, so the committed copies carry real outputs (a few minutes).
notebooks: $(VENV)/installed
	$(BIN)/python -m replicate.notebooks

.PHONY: bench
# How fast this machine runs Kingdra: training (1 and 10 members, sequential and vectorized, with
# pseudo-labels, every Keras backend) against the matmul peak, mini-clusters, prediction, and the
# projected MNIST protocol -> results/bench.json. `python -m replicate.bench --help` lists the sizes.
bench: $(VENV)/installed
	$(BIN)/python -m replicate.bench
