# vislite: `make demo` (set up + run the main job on the embedded data) and `make test` (set up + all tests).
# Needs only python3 and make; everything else is installed into .venv on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch wheels: CPU/GPU builds of this version; override e.g. TORCH_SPEC="torch==2.9.1 torchvision==0.24.1"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PACKAGES := common $(filter-out common,$(notdir $(wildcard packages/*)))
PYPROJECTS := $(foreach p,$(PACKAGES),packages/$(p)/pyproject.toml)
STAMP := $(VENV)/.vislite-installed

export OMP_NUM_THREADS ?= 2

.PHONY: setup pipeline demo demo-detection demo-pdnet demo-rdsnet demo-hierkd demo-segmentation demo-tracking demo-attack demo-dspnet study test test-fast lint bench standalone clean help

help:
	@echo "make demo   - set up .venv and run the main job on the embedded data"
	@echo "make demo-detection / demo-segmentation / demo-tracking - the other packages' demos"
	@echo "make demo-pdnet - PDNet vs FCOS on the embedded world, PDNet's dynamic points drawn"
	@echo "make demo-rdsnet - RDSNet on the embedded world: box AP, mask AP with / without MBRM, mask overlays"
	@echo "make demo-attack - SiamFC++ on the embedded world, then the universal targeted attack on it (table + strip)"
	@echo "make demo-dspnet - DSPNet once at four widths vs four individually pre-trained networks (embedded world)"
	@echo "make pipeline - MAE-lite pre-training handed to every package, against scratch (PIPELINE=smoke: a quick check)"
	@echo "make study  - the pre-training study (MAE-lite vs MoCo-v3 vs D-MAE; about 30 min on 2 cores)"
	@echo "make test   - set up .venv and run every package's tests plus the standalone-install check"
	@echo "make bench  - run the benchmarks (ratios against references measured in the same run)"
	@echo "make lint   - ruff"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch-installed: | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	touch $@

# Editable installs of every package with its test extras; redone only when a pyproject.toml changes.
$(STAMP): $(VENV)/.torch-installed $(PYPROJECTS)
	$(BIN)/pip install --quiet $(foreach p,$(PACKAGES),-e "packages/$(p)[test]") ruff
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/vislite-pretrain-demo --out outputs/demo --data-dir data

demo-detection: setup
	$(BIN)/vislite-det-demo --out outputs/demo-detection --data-dir data

demo-pdnet: setup
	$(BIN)/vislite-pdnet-demo --out outputs/demo-pdnet --data-dir data

demo-rdsnet: setup
	$(BIN)/vislite-rdsnet-demo --out outputs/demo-rdsnet --data-dir data

demo-hierkd: setup
	$(BIN)/vislite-det-hierkd-demo --out outputs/demo-hierkd --data-dir data

demo-segmentation: setup
	$(BIN)/vislite-seg-demo --out outputs/demo-segmentation --data-dir data

demo-tracking: setup
	$(BIN)/vislite-track-demo --out outputs/demo-tracking --data-dir data

demo-attack: setup
	$(BIN)/vislite-attack-demo --out outputs/demo-attack --data-dir data

demo-dspnet: setup
	$(BIN)/vislite-dspnet-demo --out outputs/demo-dspnet --data-dir data

# The papers' flow across packages (hydra_configs/pipelines/<PIPELINE>.yaml): pre-train once, then every downstream
# recipe from that backbone and from scratch, one table. PIPELINE=smoke is the few-minute plumbing check.
PIPELINE ?= world
pipeline: setup
	$(BIN)/vislite-pipeline $(PIPELINE) --data-dir data

study: setup
	$(BIN)/vislite-pretrain-study --out outputs/study --data-dir data

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash ci/run_tests.sh $(PACKAGES)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash ci/check_standalone.sh $(PACKAGES)

test-fast: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash ci/run_tests.sh $(PACKAGES)

standalone: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash ci/check_standalone.sh $(PACKAGES)

lint: setup
	$(BIN)/ruff check .

# onnx/onnxruntime: the tracker benchmark measures an ONNX Runtime run beside the PyTorch ones
bench: setup
	$(BIN)/pip install --quiet onnx onnxruntime
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) outputs multirun
