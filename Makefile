# `make help` lists the targets. Everything installs into .venv unless a virtual environment is active.
SHELL := /bin/bash
VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.indirect-installed
ARGS ?=

.PHONY: help install run test test-all demo-sweep protocols report bench paper sweep-dims sweep-prompts sweep-clip-size saliency-demo embed-shards device-check clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1" || $(PY) -m pip install -q torch torchvision
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)  ## install the package and its dependencies (into .venv unless a venv is active)

run: install  ## the main job: InDiReCT vs the baselines on the offline demo world (ARGS='notion=shape' etc.)
	$(PY) train_eval.py $(ARGS)

test: install  ## the test suite (slow tests excluded)
	$(PY) -m pytest -q

test-all: install  ## the test suite including slow tests
	$(PY) -m pytest -q -m ''

# The sweep folder of a target that reports on it is a variable (SWEEP_DIR=...), never hydra.sweep.dir in
# ARGS: the report would read the old folder and exit 0.
no-sweep-dir-in-args = @if [[ "$(ARGS)" == *hydra.sweep.dir* ]]; then \
	echo "error: set SWEEP_DIR=<folder> instead of hydra.sweep.dir in ARGS (the report step reads SWEEP_DIR)" >&2; exit 2; fi

demo-sweep: SWEEP_DIR ?= outputs/multiruns/demo
demo-sweep: install  ## the four demo notions x every baseline (5 seeds) as one multirun, then the sweep report (SWEEP_DIR=outputs/multiruns/demo; ARGS=hydra/launcher=parallel: jobs in parallel)
	$(no-sweep-dir-in-args)
	$(PY) train_eval.py --multirun experiment=demo_paper hydra.sweep.dir=$(SWEEP_DIR) $(ARGS)
	$(PY) scripts/report.py $(SWEEP_DIR)

PROTOCOL_REPS ?= 5
protocols: SWEEP_DIR ?= outputs/multiruns/protocols
protocols: install  ## the demo notions x every method under protocol=improved and protocol=paper: one side-by-side table (PROTOCOL_REPS=5, SWEEP_DIR)
	$(no-sweep-dir-in-args)
	$(PY) train_eval.py --multirun experiment=demo_paper protocol=improved,paper repetitions=$(PROTOCOL_REPS) \
		logger=none hydra.sweep.dir=$(SWEEP_DIR) $(ARGS)
	$(PY) scripts/protocols_table.py $(SWEEP_DIR)

report: install  ## sweep report of a multirun directory: make report DIR=outputs/multiruns/<sweep>
	$(PY) scripts/report.py $(DIR)

bench: install  ## the benchmarks (projectors, evaluation, embedding)
	$(PY) scripts/bench_projectors.py
	$(PY) scripts/bench_eval.py
	$(PY) scripts/bench_embed.py

sweep-dims: install  ## every method vs k (2..256: demo D = 384) on the demo world (ARGS=protocol=paper; plot in the multirun folder)
	$(PY) train_eval.py -m experiment=sweep_dims n_components=2,4,8,16,32,64,128,256 $(ARGS)

sweep-prompts: install  ## metric vs number of prompts on the demo colour vocabulary
	$(PY) train_eval.py -m experiment=sweep_prompts max_prompts=4,8,12,16,24,32,44 $(ARGS)

sweep-clip-size: install  ## every method per CLIP size on synthetic cars (needs the three OpenAI checkpoints; ARGS=protocol=paper)
	$(PY) train_eval.py -m experiment=sweep_clip_size dataset=synthetic_cars notion=color $(ARGS)

saliency-demo: install  ## saliency grid: colour vs background notion on the demo world
	$(PY) train_eval.py analysis=saliency analysis.saliency.second_notion=background $(ARGS)

DATASET ?= shapes
NOTION ?= color
BACKBONE ?= demo
SHARDS ?= 4
LAUNCHER ?= parallel
LAUNCH_ARGS ?=

embed-shards: install  ## embed DATASET as SHARDS jobs (LAUNCHER=parallel|slurm|slurm_local, LAUNCH_ARGS=hydra.launcher.partition=gpu), then merge
	$(PY) train_eval.py --multirun hydra/launcher=$(LAUNCHER) dataset=$(DATASET) notion=$(NOTION) backbone=$(BACKBONE) \
		embed.num_shards=$(SHARDS) 'embed.shard=range($(SHARDS))' $(LAUNCH_ARGS) $(ARGS)
	$(PY) scripts/merge_shards.py dataset=$(DATASET) notion=$(NOTION) backbone=$(BACKBONE) embed.num_shards=$(SHARDS) $(ARGS)

PAPER_DATASETS ?= synthetic_cars cars196 cub200 deepfashion movie_posters
paper: install  ## the paper's 13 notions on its 5 datasets (InDiReCT + every baseline, k=128, 5 repetitions; datasets under data/; PAPER_DATASETS=...)
	$(no-sweep-dir-in-args)
	@failed=""; for d in $(PAPER_DATASETS); do \
	  $(PY) train_eval.py --multirun experiment=paper_$$d hydra.sweep.dir=outputs/multiruns/paper_$$d $(ARGS) \
	    && $(PY) scripts/report.py outputs/multiruns/paper_$$d || failed="$$failed $$d"; done; \
	if [ -n "$$failed" ]; then echo "error: paper sweeps with failed jobs or no data:$$failed (the others ran)" >&2; exit 1; fi

DEVICE_PY ?= python3
device-check:  ## on a GPU machine (no install; DEVICE_PY=python3): device vs CPU answers, then the benchmarks on cuda (logs in OUT)
	DEVICE_PY=$(DEVICE_PY) bash scripts/device_run.sh $${OUT:-outputs/device}

clean:  ## remove run outputs and embedding caches (keeps data/ and .venv)
	rm -rf outputs cache
