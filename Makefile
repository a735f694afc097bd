# vggconv — see README.md. `make run` and `make test` work on a fresh Debian machine (as root or with sudo).
SWIFT       ?= swift
VENV        ?= .venv-samples
PYTHON      ?= python3
APT_PACKAGES = libhdf5-dev zlib1g-dev libisal-dev libopenblas-dev libjpeg62-turbo-dev libpng-dev pkg-config
SAMPLE      ?= samples/vgg_small_tfkeras_model.h5
SHELL       := /bin/bash
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps pydeps build run test test-ray samples bench-convert full-size-models check-exports check-diagnosis check-images check-transfer fuzz clean

## Install the system libraries (libhdf5, zlib) when they are missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## Python modules the tests use to check our files independently (numpy, jsonschema).
pydeps:
	@$(PYTHON) -c "import numpy, jsonschema" 2>/dev/null || $(PYTHON) -m pip install -q numpy jsonschema

build: deps
	$(SWIFT) build -c release

## Convert a bundled Keras sample to .vggw and list its tensors.
run: build
	@mkdir -p out
	.build/release/vggconv keras2native $(SAMPLE) -o out/sample.vggw --force
	.build/release/vggconv inspect out/sample.vggw

test: deps pydeps
	$(SWIFT) build --build-tests
	@mkdir -p .build
	@set -o pipefail; $(SWIFT) test --skip-build --disable-swift-testing 2>&1 | tee .build/test.log
	@# The library as another package uses it (Examples/ConvertAndVerify): built and run on a sample.
	@mkdir -p .build/example-out
	$(SWIFT) run --package-path Examples/ConvertAndVerify --scratch-path .build/example ConvertAndVerify samples .build/example-out
	@# The Ray driver on a local cluster (integrations/ray): sharded runs byte-identical to one process.
	$(MAKE) --no-print-directory test-ray
	@# One plain closing line: "N passed, N failed".
	@grep -E "Executed [0-9]+ tests?, with [0-9]+ failures?" .build/test.log | tail -1 | \
	  sed -E 's/.*Executed ([0-9]+) tests?, with ([0-9]+) failures?.*/\1 \2/' | \
	  awk '{ print ($$1 - $$2) " passed, " $$2 " failed" }'

## The Ray driver's tests, in their own venv with the pinned Ray (integrations/ray/requirements.txt).
RAY_VENV ?= .venv-ray
test-ray:
	@[ -x $(RAY_VENV)/bin/python ] || $(PYTHON) -m venv $(RAY_VENV) || { $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(RAY_VENV); }
	@$(RAY_VENV)/bin/python -c "import ray" 2>/dev/null || $(RAY_VENV)/bin/pip install -q -r integrations/ray/requirements.txt
	set -o pipefail; VGGCONV=.build/debug/vggconv $(RAY_VENV)/bin/python -W ignore::ResourceWarning -m unittest integrations/ray/test_local_cluster.py 2>&1 | grep -v -e tracemalloc -e '_warn(' -e 'return self.data'

## Regenerate samples/ with the real frameworks (installs them into $(VENV); ~8 GB, ~10 minutes).
samples:
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r samples/requirements.txt
	$(VENV)/bin/python samples/generate.py
	$(VENV)/bin/python samples/generate_h5_variants.py
	$(VENV)/bin/python samples/generate_checkpoints.py
	$(VENV)/bin/python samples/generate_timm.py
	$(VENV)/bin/python samples/generate_slips.py
	$(VENV)/bin/python samples/generate_images.py
	$(VENV)/bin/python samples/generate_transfer.py
	$(VENV)/bin/python samples/generate_png_variants.py
	$(VENV)/bin/python samples/generate_onnx.py
	$(VENV)/bin/python samples/hostile/generate.py

## Full-size VGG16 conversion benchmark against h5py+numpy→safetensors (not part of `make test`).
bench-convert: build
	bash scripts/bench/convert.sh

## The samples venv and full-size VGG16 written by tf-keras and torchvision into $(EXPORT_WORK), for the
## check-* targets below.
EXPORT_WORK ?= /dev/shm/vggconv-exports
full-size-models: build
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q -r samples/requirements.txt
	@mkdir -p $(EXPORT_WORK)
	@[ -f $(EXPORT_WORK)/vgg16_torchvision.pth ] || $(VENV)/bin/python scripts/generate/vgg16_torch.py $(EXPORT_WORK) >/dev/null
	@[ -f $(EXPORT_WORK)/vgg16_tfkeras_model.h5 ] || $(VENV)/bin/python scripts/generate/vgg16_keras.py $(EXPORT_WORK) >/dev/null 2>&1

## Load every export in the real frameworks (PyTorch, ONNX Runtime, tf-keras, Keras 3) and compare with
## their own outputs.
check-exports: full-size-models
	TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/python scripts/check/exports.py .build/release/vggconv $(EXPORT_WORK)
	set -o pipefail; TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/python scripts/check/keras_exports.py .build/release/vggconv $(EXPORT_WORK) 2>&1 | grep -v -e '^WARNING' -e 'retracing'

## Full-size proof of diff, verify --explain/--logits/--layers with PyTorch.
check-diagnosis: full-size-models
	$(VENV)/bin/python scripts/check/diagnosis.py .build/release/vggconv $(EXPORT_WORK)

## Full-size proof of predict, features and gradcam against torchvision, tf-keras and PyTorch autograd.
check-images: full-size-models
	set -o pipefail; $(VENV)/bin/python scripts/check/images.py .build/release/vggconv $(EXPORT_WORK) 2>&1 | grep -v -e '^WARNING' -e '^I0000'

## Transfer-learning saves: every samples/transfer model exported and loaded in torch, onnxruntime, Keras 3 and
## tf-keras; full-size VGG16 bases (nested, GAP heads, sharded, torchvision heads) through verify and summary.
check-transfer: build
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q -r samples/requirements.txt
	set -o pipefail; TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/python scripts/check/transfer_exports.py .build/release/vggconv $(EXPORT_WORK)/transfer 2>&1 | grep -E '^(PASS|FAIL|n/a|[0-9]+ passed)'
	set -o pipefail; TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/python scripts/check/transfer_fullsize.py .build/release/vggconv $(EXPORT_WORK)/transfer-fullsize 2>&1 | grep -E '^(PASS|FAIL|[0-9]+ passed| )'

## ONNX files from torch.onnx and tf2onnx (samples/onnx, and full-size VGG16) converted to .pth, .h5 and .keras,
## loaded by PyTorch, tf-keras and Keras 3 and compared with onnxruntime on the ONNX file.
check-onnx: full-size-models
	@[ -f $(EXPORT_WORK)/vgg16_torch.onnx ] || $(VENV)/bin/python scripts/generate/vgg16_onnx_variants.py $(EXPORT_WORK) >/dev/null 2>&1
	set -o pipefail; TF_CPP_MIN_LOG_LEVEL=3 $(VENV)/bin/python scripts/check/onnx_imports.py .build/release/vggconv $(EXPORT_WORK)/onnx $(EXPORT_WORK) 2>&1 | grep -E '^(PASS|FAIL|[0-9]+ passed)'

## libFuzzer harnesses for every reader (scripts/fuzz/run.sh; FUZZ_SECONDS per harness, or FUZZ_RUNS executions).
fuzz: deps
	bash scripts/fuzz/run.sh

clean:
	rm -rf .build out .build-fuzz
